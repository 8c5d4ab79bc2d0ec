"""Pretraining driver shared by ``manage.py train_catalog_model`` (no Django here).

Reads a tokenised corpus, splits items into train/held-out by a hash of their id, trains the
transformer and writes the checkpoint, the training manifest and the model card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generation.ml.corpus import Item, load_corpus
from generation.ml.model import ModelConfig, MusicTransformer, save_checkpoint
from generation.ml.originality import NgramIndex
from generation.ml.tokenizer import VOCAB_SIZE
from generation.ml.train import TokenSource, evaluate, pick_device, seed_everything, train

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "catalog_model.pt"
MANIFEST_NAME = "training_manifest.json"
CARD_NAME = "MODEL_CARD.md"
CATALOG_SAMPLE_NAME = "catalog_sample.npy"
CATALOG_NGRAMS_NAME = "catalog_ngrams.npy"
CATALOG_SAMPLE_TOKENS = 300_000


GUARD_WINDOW_SYMBOLS = 8  # 9 consecutive notes: one more than the guard allows


def is_held_out(source_id: str, *, percent: int = 2) -> bool:
    digest = hashlib.sha1(source_id.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


@dataclass(frozen=True)
class TrainingPlan:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    block_size: int = 512
    batch_size: int = 8
    steps: int | None = None
    time_budget_s: float | None = 3000.0
    seed: int = 1234
    lr: float = 1e-3
    include_noncommercial: bool = True


def select_items(items: list[Item], *, include_noncommercial: bool) -> list[Item]:
    return [i for i in items if include_noncommercial or i.is_commercial_ok]


def concat(tokens: np.ndarray, items: list[Item]) -> np.ndarray:
    if not items:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([tokens[i.offset : i.offset + i.token_count] for i in items]).astype(np.int64)


def run_training(corpus_dir: Path, weights_dir: Path, plan: TrainingPlan, *, command: str) -> dict[str, object]:
    """Train from ``corpus_dir`` into ``weights_dir``; returns the summary written to the card."""
    started = time.monotonic()
    seed_everything(plan.seed)
    tokens, items = load_corpus(corpus_dir)
    chosen = select_items(items, include_noncommercial=plan.include_noncommercial)
    train_items = [i for i in chosen if not is_held_out(i.source_id)]
    val_items = [i for i in chosen if is_held_out(i.source_id)]
    train_source = TokenSource(concat(tokens, train_items))
    val_source = TokenSource(concat(tokens, val_items))
    device = pick_device()
    config = ModelConfig(
        vocab_size=VOCAB_SIZE,
        n_layer=plan.n_layer,
        n_head=plan.n_head,
        n_embd=plan.n_embd,
        block_size=plan.block_size,
    )
    model = MusicTransformer(config).to(device)
    weights_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = weights_dir / CHECKPOINT_NAME
    partial = weights_dir / (CHECKPOINT_NAME + ".partial")
    logger.info(
        "training %d params on %d train tokens (%d items), %d held-out tokens, device %s",
        model.num_parameters(),
        train_source.tokens.size,
        len(train_items),
        val_source.tokens.size,
        device,
    )
    result = train(
        model,
        train_source,
        steps=plan.steps,
        batch_size=plan.batch_size,
        seed=plan.seed,
        lr=plan.lr,
        time_budget_s=plan.time_budget_s,
        val_source=val_source,
        eval_every=250,
        on_checkpoint=lambda step: save_checkpoint(model, str(partial), extra={"step": step}),
    )
    held_out_loss = evaluate(model, val_source, batches=25, batch_size=plan.batch_size, seed=plan.seed + 7)
    summary: dict[str, object] = {
        "architecture": config.to_dict(),
        "parameters": model.num_parameters(),
        "vocab_size": VOCAB_SIZE,
        "steps": result.steps,
        "batch_size": plan.batch_size,
        "tokens_seen": result.tokens_seen,
        "train_tokens": int(train_source.tokens.size),
        "held_out_tokens": int(val_source.tokens.size),
        "train_items": len(train_items),
        "held_out_items": len(val_items),
        "epochs": round(result.tokens_seen / max(1, train_source.tokens.size), 2),
        "final_train_loss": round(result.final_train_loss, 4),
        "held_out_loss": round(held_out_loss, 4),
        "held_out_perplexity": round(math.exp(held_out_loss), 3),
        "train_wall_time_s": round(result.wall_time_s, 1),
        "total_wall_time_s": round(time.monotonic() - started, 1),
        "history": result.history,
        "seed": plan.seed,
        "include_noncommercial": plan.include_noncommercial,
        "device": device,
        "torch": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "command": command,
    }
    save_checkpoint(model, str(checkpoint), extra={"summary": {k: v for k, v in summary.items() if k != "history"}})
    partial.unlink(missing_ok=True)
    write_manifest(weights_dir / MANIFEST_NAME, chosen, held_out={i.source_id for i in val_items})
    write_catalog_sample(weights_dir / CATALOG_SAMPLE_NAME, tokens, train_items, seed=plan.seed)
    index = NgramIndex.from_token_items(
        (tokens[i.offset : i.offset + i.token_count] for i in train_items), window=GUARD_WINDOW_SYMBOLS
    )
    index.save(str(weights_dir / CATALOG_NGRAMS_NAME))
    summary["catalog_ngram_windows"] = int(index.hashes.size)
    write_model_card(weights_dir / CARD_NAME, summary, chosen)
    return summary


def write_catalog_sample(path: Path, tokens: np.ndarray, items: list[Item], *, seed: int) -> None:
    """A seeded sample of whole training items (about CATALOG_SAMPLE_TOKENS) that fine-tuning mixes in."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))
    chosen: list[np.ndarray] = []
    total = 0
    for i in order:
        item = items[int(i)]
        chosen.append(tokens[item.offset : item.offset + item.token_count])
        total += item.token_count
        if total >= CATALOG_SAMPLE_TOKENS:
            break
    np.save(path, np.concatenate(chosen).astype(np.uint16) if chosen else np.zeros(0, dtype=np.uint16))


def write_manifest(path: Path, items: list[Item], *, held_out: set[str]) -> None:
    rows = [
        {
            "source_id": i.source_id,
            "title": i.title,
            "collection": i.collection,
            "licence": i.licence,
            "is_commercial_ok": i.is_commercial_ok,
            "token_count": i.token_count,
            "recording_id": i.recording_id,
            "held_out": i.source_id in held_out,
        }
        for i in items
    ]
    path.write_text(json.dumps({"items": rows}, separators=(",", ":")))


def write_model_card(path: Path, summary: dict[str, object], items: list[Item]) -> None:
    collections: dict[str, dict[str, object]] = {}
    for i in items:
        row = collections.setdefault(
            i.collection, {"items": 0, "tokens": 0, "licence": i.licence, "commercial": i.is_commercial_ok}
        )
        row["items"] = int(str(row["items"])) + 1
        row["tokens"] = int(str(row["tokens"])) + i.token_count
    arch = summary["architecture"]
    assert isinstance(arch, dict)
    lines = [
        "# SongForge catalog model",
        "",
        "A decoder-only transformer over our REMI-style tokens (generation/ml/tokenizer.py), trained from "
        "scratch on CPU. It is the base model that every generation fine-tunes a copy of.",
        "",
        "## Data and licences",
        "",
        "| collection | items | tokens | commercial use | licence |",
        "|---|---:|---:|---|---|",
    ]
    for name, row in sorted(collections.items()):
        lines.append(
            f"| {name} | {row['items']} | {row['tokens']} | {'yes' if row['commercial'] else 'no'} | {row['licence']} |"
        )
    lines += [
        "",
        f"Every item with its token count is in `{MANIFEST_NAME}` (the 33% catalog royalty pool is paid pro rata "
        "to it; items without a catalog recording have no known holders and their share goes to escrow). "
        "Non-commercial sources are dropped when `SONGFORGE_ALLOW_NONCOMMERCIAL_TRAINING=0`.",
        "",
        "## Architecture and training",
        "",
        f"- {arch['n_layer']} layers x {arch['n_embd']} dims, {arch['n_head']} heads, context {arch['block_size']}, "
        f"vocabulary {summary['vocab_size']}, {summary['parameters']} parameters (tied embeddings), fp16 on disk",
        f"- {summary['steps']} steps of {summary['batch_size']} x {arch['block_size']} tokens "
        f"({summary['tokens_seen']} tokens seen, {summary['epochs']} epochs), AdamW, cosine LR, bf16 autocast on CPU, "
        "random transposition -5..+6 semitones",
        f"- training tokens: {summary['train_tokens']} ({summary['train_items']} items); held out (2% of items by "
        f"id hash): {summary['held_out_tokens']} tokens ({summary['held_out_items']} items)",
        f"- wall time: {summary['train_wall_time_s']} s training, {summary['total_wall_time_s']} s total on "
        f"{summary['threads']} CPU thread(s) ({summary['device']}, torch {summary['torch']}), seed {summary['seed']}",
        "",
        "## Results",
        "",
        f"- final training loss: {summary['final_train_loss']}",
        f"- originality guard index: {summary.get('catalog_ngram_windows')} distinct 9-note windows of the "
        f"training melodies (`{CATALOG_NGRAMS_NAME}`); fine-tuning mixes in `{CATALOG_SAMPLE_NAME}` "
        f"(~{CATALOG_SAMPLE_TOKENS} tokens of whole training items)",
        f"- held-out loss: {summary['held_out_loss']} nats/token, perplexity {summary['held_out_perplexity']}",
        "",
        "## Rebuild",
        "",
        "```",
        str(summary["command"]),
        "```",
        "",
    ]
    path.write_text("\n".join(lines))
