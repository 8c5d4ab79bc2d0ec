from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generation.ml import tokenizer
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
