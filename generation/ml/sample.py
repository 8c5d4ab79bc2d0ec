"""Constrained sampling with a KV cache: every token obeys :class:`~generation.ml.tokenizer.Grammar`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from generation.ml.model import KVCache, MusicTransformer
from generation.ml.tokenizer import EOS, Grammar

MaskHook = Callable[[Grammar, np.ndarray], np.ndarray]


@torch.no_grad()
def sample(
    model: MusicTransformer,
    prompt: Sequence[int],
    *,
    max_new_tokens: int,
    grammar: Grammar,
    seed: int,
    temperature: float = 1.0,
    top_k: int = 32,
    mask_hook: MaskHook | None = None,
    bias: np.ndarray | None = None,
) -> list[int]:
    """Continue ``prompt`` (already fed to ``grammar``) until EOS or ``max_new_tokens``.

    The grammar mask removes invalid tokens before top-k sampling; ``mask_hook`` may narrow the
    mask further (e.g. keep pitches in a key). When the context fills, the last half block is
    re-encoded (the grammar state is unaffected). ``bias`` (one value per token) is added to
    the logits before the temperature, e.g. to lean pitches towards the sources' pitch classes.
    Same model, prompt, bias and seed -> same output.
    """
    model.eval()
    added = torch.from_numpy(np.asarray(bias, dtype=np.float32)) if bias is not None else None
    device = next(model.parameters()).device.type
    generator = torch.Generator(device="cpu").manual_seed(seed)
    block = model.config.block_size
    tokens = list(prompt)
    cache: KVCache | None = None
    context = tokens[-block:]
    logits, _, cache = model(torch.tensor([context], device=device))
    position = len(context)
    next_logits = logits[0, -1].float().cpu()
    for _ in range(max_new_tokens):
        mask = grammar.allowed()
        if mask_hook is not None:
            narrowed = mask_hook(grammar, mask.copy())
            if narrowed.any():
                mask = narrowed
        scores = (next_logits if added is None else next_logits + added) / max(temperature, 1e-5)
        scores[~torch.from_numpy(mask)] = float("-inf")
        k = min(top_k, int(mask.sum()))
        values, indices = torch.topk(scores, k)
        probs = torch.softmax(values, dim=-1)
        choice = int(indices[torch.multinomial(probs, 1, generator=generator)].item())
        tokens.append(choice)
        grammar.step(choice)
        if choice == EOS:
            break
        if position >= block:
            context = tokens[-(block // 2) :]
            logits, _, cache = model(torch.tensor([context], device=device))
            position = len(context)
        else:
            logits, _, cache = model(torch.tensor([[choice]], device=device), cache=cache, start_pos=position)
            position += 1
        next_logits = logits[0, -1].float().cpu()
    return tokens
