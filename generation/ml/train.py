"""Training, fine-tuning and evaluation loops (CPU-friendly, seeded).

Batches are windows of ``block_size + 1`` tokens; rows shorter than that are padded and their
targets ignored (-100). Pitched notes and chord roots are transposed by a random interval per
window as augmentation (drums never are).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from generation.ml.model import MusicTransformer
from generation.ml.tokenizer import CHORD_QUALITIES, CHORD_RANGE, PITCH_RANGE, ROLES, TRACK_RANGE, VOCAB_SIZE

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def autocast_context(device: str) -> torch.autocast | _Null:
    """bf16 autocast on CPUs that support it (fp32 master weights), CUDA bf16 on GPUs."""
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device == "cpu" and _cpu_has_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return _Null()


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _cpu_has_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()  # noqa: SIM115
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# --- transposition augmentation --------------------------------------------------

_N_QUALITIES = len(CHORD_QUALITIES)


def shiftable_pitch_mask(tokens: np.ndarray) -> np.ndarray:
    """True where a PITCH token belongs to a pitched (non-drum) track. tokens: (N,) -> (N,) bool."""
    tokens = tokens.astype(np.int64)
    is_track = (tokens >= TRACK_RANGE[0]) & (tokens < TRACK_RANGE[1])
    last_track_index = np.where(is_track, np.arange(tokens.size), 0)
    last_track_index = np.maximum.accumulate(last_track_index)
    current_role = tokens[last_track_index] - TRACK_RANGE[0]
    is_pitch = (tokens >= PITCH_RANGE[0]) & (tokens < PITCH_RANGE[1])
    return np.asarray(is_pitch & (current_role != ROLES.index("drums")))


def _chord_shift_table(semitones: int) -> np.ndarray:
    table = np.arange(VOCAB_SIZE, dtype=np.int64)
    first = CHORD_RANGE[0] + 1  # CHORD_N is first
    for root in range(12):
        for q in range(_N_QUALITIES):
            table[first + root * _N_QUALITIES + q] = first + ((root + semitones) % 12) * _N_QUALITIES + q
    return table


CHORD_SHIFT = {k: _chord_shift_table(k) for k in range(-6, 7)}


def transpose(window: np.ndarray, pitch_mask: np.ndarray, semitones: int) -> np.ndarray:
    """Shift pitched notes and chord roots; keeps the window unchanged if a note would leave 0..127."""
    if semitones == 0:
        return window
    out = window.astype(np.int64)
    pitches = out[pitch_mask] - PITCH_RANGE[0]
    if pitches.size and (pitches.min() + semitones < 0 or pitches.max() + semitones > 127):
        return window
    out[pitch_mask] += semitones
    return CHORD_SHIFT[semitones][out]


# --- batches ---------------------------------------------------------------------


@dataclass
class TokenSource:
    """A token stream to draw windows from, with its pitch mask computed once."""

    tokens: np.ndarray
    pitch_mask: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = np.asarray(self.tokens, dtype=np.int64)
        self.pitch_mask = shiftable_pitch_mask(self.tokens)

    def window(self, rng: np.random.Generator, length: int, *, augment: bool) -> np.ndarray:
        n = self.tokens.size
        start = 0 if n <= length else int(rng.integers(0, n - length))
        w = self.tokens[start : start + length]
        if augment:
            w = transpose(w, self.pitch_mask[start : start + length], int(rng.integers(-5, 7)))
        return w


def make_batch(windows: Sequence[np.ndarray], length: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of up to ``length`` tokens -> (x, y) of shape (B, length - 1), padded targets -100."""
    x = np.zeros((len(windows), length - 1), dtype=np.int64)
    y = np.full((len(windows), length - 1), -100, dtype=np.int64)
    for i, w in enumerate(windows):
        n = len(w)
        x[i, : n - 1] = w[:-1]
        y[i, : n - 1] = w[1:]
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def lr_at(step: int, total: int, *, peak: float, warmup: int, floor_ratio: float = 0.1) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor_ratio + (1 - floor_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model: MusicTransformer, source: TokenSource, *, batches: int, batch_size: int, seed: int) -> float:
    """Mean loss over a fixed (seeded) set of windows; no augmentation."""
    model.eval()
    rng = np.random.default_rng(seed)
    length = model.config.block_size + 1
    device = next(model.parameters()).device.type
    losses = []
    for _ in range(batches):
        x, y = make_batch([source.window(rng, length, augment=False) for _ in range(batch_size)], length, device)
        with autocast_context(device):
            _, loss, _ = model(x, y)
        assert loss is not None
        losses.append(float(loss.detach()))
    model.train()
    return float(np.mean(losses))


@dataclass
class TrainResult:
    steps: int
    tokens_seen: int
    wall_time_s: float
    final_train_loss: float
    history: list[dict[str, float]]


def optimizer_step(
    model: MusicTransformer,
    optimizer: torch.optim.Optimizer,
    windows: Sequence[np.ndarray],
    length: int,
    device: str,
) -> float:
    """One AdamW step on a batch of token windows (gradients clipped at 1.0); returns the batch loss."""
    x, y = make_batch(windows, length, device)
    with autocast_context(device):
        _, loss, _ = model(x, y)
    assert loss is not None
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())


def train(
    model: MusicTransformer,
    train_source: TokenSource,
    *,
    steps: int | None,
    batch_size: int,
    seed: int,
    lr: float = 1e-3,
    time_budget_s: float | None = None,
    val_source: TokenSource | None = None,
    eval_every: int = 200,
    on_checkpoint: Callable[[int], None] | None = None,
    checkpoint_every_s: float = 300.0,
    mix_source: TokenSource | None = None,
    mix_rows: int = 0,
    warmup_steps: int | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Pretrain ``model`` on windows of ``train_source``.

    With ``time_budget_s`` and no ``steps``, the step count is fixed after 10 calibration steps
    so the cosine schedule ends inside the budget (the resulting step count is reported).
    With ``mix_source``, ``mix_rows`` of every batch's rows are windows of it instead.
    ``stop_after`` ends the run at that step without changing the LR schedule (replays a cut-short run).
    """
    seed_everything(seed)
    device = next(model.parameters()).device.type
    rng = np.random.default_rng(seed)
    length = model.config.block_size + 1
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    total = steps if steps is not None else 10_000_000
    warmup = 100 if steps is None or steps > 400 else max(1, steps // 10)
    if warmup_steps is not None:
        warmup = max(1, warmup_steps)
    n_mix = min(batch_size, mix_rows) if mix_source is not None else 0
    model.train()
    started = time.monotonic()
    last_checkpoint = started
    history: list[dict[str, float]] = []
    loss_value = float("nan")
    step = 0
    while step < total:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, peak=lr, warmup=warmup)
        windows = [train_source.window(rng, length, augment=True) for _ in range(batch_size - n_mix)]
        if mix_source is not None:
            windows += [mix_source.window(rng, length, augment=True) for _ in range(n_mix)]
        loss_value = optimizer_step(model, optimizer, windows, length, device)
        step += 1
        elapsed = time.monotonic() - started
        if steps is None and step == 10 and time_budget_s is not None:
            total = max(20, int(time_budget_s / (elapsed / 10)))
            logger.info("train: calibrated %.2f s/step -> %d steps", elapsed / 10, total)
        if step % 20 == 0:
            logger.info("train: step %d/%d loss %.4f (%.0f s)", step, total, loss_value, elapsed)
        if stop_after is not None and step >= stop_after:
            total = step
        if time_budget_s is not None and elapsed > 1.3 * time_budget_s:
            logger.warning("train: stopping at step %d, 30%% over the time budget", step)
            total = step
        if val_source is not None and (step % eval_every == 0 or step == total):
            val = evaluate(model, val_source, batches=4, batch_size=batch_size, seed=seed + 1)
            history.append({"step": step, "train_loss": loss_value, "val_loss": val, "elapsed_s": elapsed})
            logger.info("train: step %d val loss %.4f", step, val)
        if on_checkpoint is not None and time.monotonic() - last_checkpoint > checkpoint_every_s:
            on_checkpoint(step)
            last_checkpoint = time.monotonic()
    return TrainResult(
        steps=step,
        tokens_seen=step * batch_size * (length - 1),
        wall_time_s=time.monotonic() - started,
        final_train_loss=loss_value,
        history=history,
    )


@dataclass
class FinetuneResult:
    steps: int
    wall_time_s: float
    upload_tokens: int
    catalog_tokens: int
    upload_fraction: float
    per_song_tokens: list[int]
    per_song_share: list[float]
    losses: list[float]


def finetune(
    model: MusicTransformer,
    songs: Sequence[TokenSource],
    catalog: TokenSource,
    *,
    steps: int,
    batch_size: int,
    upload_fraction: float,
    seed: int,
    lr: float = 3e-4,
    block_size: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` in place on a mix of the songs and the catalog.

    Each batch holds round(batch_size * upload_fraction) song windows (songs taken in a seeded
    shuffled round robin so every song gets a near-equal share) and the rest catalog windows.
    The ratio actually drawn (counted in target tokens) is returned, per song too.
    """
    seed_everything(seed)
    device = next(model.parameters()).device.type
    rng = np.random.default_rng(seed)
    length = min(block_size or model.config.block_size, model.config.block_size) + 1
    n_song_rows = min(batch_size, max(0 if upload_fraction <= 0 else 1, round(batch_size * upload_fraction)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    per_song = [0] * len(songs)
    catalog_tokens = 0
    losses: list[float] = []
    order: list[int] = []
    started = time.monotonic()
    model.train()
    for step in range(steps):
        windows: list[np.ndarray] = []
        for _ in range(n_song_rows):
            if not order:
                order = list(rng.permutation(len(songs)))
            song = int(order.pop())
            w = songs[song].window(rng, length, augment=False)
            per_song[song] += len(w) - 1
            windows.append(w)
        for _ in range(batch_size - n_song_rows):
            w = catalog.window(rng, length, augment=False)
            catalog_tokens += len(w) - 1
            windows.append(w)
        losses.append(optimizer_step(model, optimizer, windows, length, device))
        if on_step is not None:
            on_step(step)
    model.eval()
    upload_tokens = sum(per_song)
    total = max(1, upload_tokens + catalog_tokens)
    return FinetuneResult(
        steps=steps,
        wall_time_s=time.monotonic() - started,
        upload_tokens=upload_tokens,
        catalog_tokens=catalog_tokens,
        upload_fraction=upload_tokens / total,
        per_song_tokens=per_song,
        per_song_share=[t / max(1, upload_tokens) for t in per_song],
        losses=losses,
    )


@torch.no_grad()
def sequence_nll(model: MusicTransformer, tokens: Sequence[int]) -> np.ndarray:
    """Per-token negative log-likelihood of ``tokens`` (scored in non-overlapping context chunks).

    Returns an array of len(tokens) - 1 values: entry i is -log p(tokens[i+1] | prefix in chunk).
    """
    model.eval()
    device = next(model.parameters()).device.type
    block = model.config.block_size
    t = torch.tensor(list(tokens), dtype=torch.long, device=device)
    out: list[np.ndarray] = []
    for start in range(0, max(1, t.numel() - 1), block):
        chunk = t[start : start + block + 1]
        if chunk.numel() < 2:
            break
        logits, _, _ = model(chunk[:-1].unsqueeze(0))
        logp = torch.log_softmax(logits.float()[0], dim=-1)
        out.append((-logp.gather(1, chunk[1:].unsqueeze(1)).squeeze(1)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
