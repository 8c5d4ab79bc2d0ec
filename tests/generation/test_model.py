from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generation.ml import sampling, tokenizer
from generation.ml.model import load_checkpoint
from generation.ml.sample import sample
from generation.ml.train import TokenSource, evaluate, train
from tests.generation.conftest import song_piece, tiny_model

WEIGHTS = Path(__file__).resolve().parents[2] / "generation" / "ml" / "weights"


def test_a_few_steps_lower_the_loss() -> None:
    torch.set_num_threads(1)
    source = TokenSource(np.concatenate([tokenizer.encode(song_piece(i)) for i in range(4)]))
    model = tiny_model()
    before = evaluate(model, source, batches=2, batch_size=2, seed=0)
    result = train(model, source, steps=12, batch_size=4, seed=0, lr=3e-3)
    after = evaluate(model, source, batches=2, batch_size=2, seed=0)
    assert result.steps == 12
    assert after < before


def test_constrained_sampling_is_seeded_and_valid() -> None:
    model = tiny_model()
    runs = []
    for _ in range(2):
        grammar = tokenizer.Grammar(max_bars=2).feed([tokenizer.BOS])
        runs.append(sample(model, [tokenizer.BOS], max_new_tokens=200, grammar=grammar, seed=5))
    assert runs[0] == runs[1]
    checker = tokenizer.Grammar()
    for t in runs[0]:
        assert checker.allowed()[t]
        checker.step(t)


def test_committed_checkpoint_loads_and_samples() -> None:
    path = WEIGHTS / "catalog_model.pt"
    if not path.exists():
        pytest.fail("generation/ml/weights/catalog_model.pt is missing: run `python manage.py train_catalog_model`")
    torch.set_num_threads(1)
    model, extra = load_checkpoint(str(path))
    assert "summary" in extra
    grammar = tokenizer.Grammar(max_bars=2).feed([tokenizer.BOS])
    tokens = sample(model, [tokenizer.BOS], max_new_tokens=60, grammar=grammar, seed=1)
    assert tokens[:1] == [tokenizer.BOS]
    assert len(tokens) > 3
    assert (WEIGHTS / "MODEL_CARD.md").exists()
    assert (WEIGHTS / "training_manifest.json").exists()


def test_a_model_stuck_on_one_note_still_fills_its_bars() -> None:
    """A model that always wants one note (as a fine-tuned one did: 126 copies of a bass note at one
    position, the rest of the section empty) may not stack it, nor leave later bars empty."""
    torch.set_num_threads(1)
    bias = np.zeros(tokenizer.VOCAB_SIZE, dtype=np.float32)
    bias[tokenizer.PITCH_RANGE[0] : tokenizer.PITCH_RANGE[1]] = 8.0  # notes over anything else
    bias[tokenizer.TOKEN_ID["PITCH_43"]] = 30.0  # and this one above all
    prompt = sampling.header(120.0)
    bars = 4
    roles = (tokenizer.MELODY, tokenizer.CHORDS, tokenizer.BASS)
    grammar = tokenizer.Grammar(max_bars=bars, allow_roles=roles, max_bar_tokens=sampling.BAR_TOKENS).feed(prompt)
    tokens = sample(
        tiny_model(),
        prompt,
        max_new_tokens=(bars + 1) * sampling.BAR_TOKENS,
        grammar=grammar,
        seed=3,
        bias=bias,
        mask_hook=sampling.make_mask_hook(0, "major", bars=bars),
    )
    assert tokens.count(tokenizer.BAR) == bars
    assert tokens[-1] == tokenizer.EOS
    starts = [(n.start, n.role, n.pitch) for n in tokenizer.decode(tokens).notes]
    assert len(starts) == len(set(starts))  # never the same note twice at one position
    per_position: dict[tuple[int, int], int] = {}
    for start, role, _ in starts:
        per_position[start, role] = per_position.get((start, role), 0) + 1
    assert all(count <= tokenizer.MAX_NOTES_AT_POSITION[role] for (_, role), count in per_position.items())
    assert {n.start // (4 * tokenizer.TICKS_PER_BEAT) for n in tokenizer.decode(tokens).notes} == set(range(bars))
