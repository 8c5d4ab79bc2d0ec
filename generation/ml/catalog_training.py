"""Pretraining driver shared by ``manage.py train_catalog_model`` (no Django here).

Reads a tokenised corpus, splits items into train/held-out by a hash of their id, trains the
transformer and writes the checkpoint, the training manifest and the model card.
"""

from __future__ import annotations

import dataclasses
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

from generation.ml.corpus import Item, load_corpus, score_source
from generation.ml.model import ModelConfig, MusicTransformer, load_checkpoint, save_checkpoint
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
    continue_from: Path | None = None  # start from this checkpoint (its architecture wins)
    demo_dir: Path | None = None  # tokenised demo-catalog arrangements (demo.corpus.build_demo_corpus)
    demo_fraction: float = 0.5  # share of each batch's rows drawn from the demo arrangements
    warmup_steps: int | None = None
    stop_after: int | None = None  # end at this step, LR schedule still planned for ``steps``


def select_items(items: list[Item], *, include_noncommercial: bool) -> list[Item]:
    return [i for i in items if include_noncommercial or i.is_commercial_ok]


def concat(tokens: np.ndarray, items: list[Item]) -> np.ndarray:
    if not items:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([tokens[i.offset : i.offset + i.token_count] for i in items]).astype(np.int64)


def merge_corpora(
    first: tuple[np.ndarray, list[Item]], second: tuple[np.ndarray, list[Item]]
) -> tuple[np.ndarray, list[Item]]:
    """One token array and item list (the second corpus's offsets shifted past the first)."""
    tokens_a, items_a = first
    tokens_b, items_b = second
    shift = int(tokens_a.size)
    moved = [dataclasses.replace(i, offset=i.offset + shift) for i in items_b]
    return np.concatenate([tokens_a, tokens_b]).astype(np.uint16), [*items_a, *moved]


def run_training(corpus_dir: Path, weights_dir: Path, plan: TrainingPlan, *, command: str) -> dict[str, object]:
    """Train from ``corpus_dir`` (plus ``plan.demo_dir``) into ``weights_dir``; returns the card's summary."""
    started = time.monotonic()
    seed_everything(plan.seed)
    tokens, items = load_corpus(corpus_dir)
    demo_keys: set[str] = set()
    if plan.demo_dir is not None:
        demo = load_corpus(plan.demo_dir)
        demo_keys = {i.source_id for i in demo[1]}
        tokens, items = merge_corpora((tokens, items), demo)
    chosen = select_items(items, include_noncommercial=plan.include_noncommercial)
    train_items = [i for i in chosen if not is_held_out(i.source_id)]
    val_items = [i for i in chosen if is_held_out(i.source_id)]
    corpus_train = [i for i in train_items if i.source_id not in demo_keys]
    demo_train = [i for i in train_items if i.source_id in demo_keys]
    train_source = TokenSource(concat(tokens, corpus_train))
    val_source = TokenSource(concat(tokens, [i for i in val_items if i.source_id not in demo_keys]))
    demo_train_source = TokenSource(concat(tokens, demo_train)) if demo_train else None
    demo_val_items = [i for i in val_items if i.source_id in demo_keys]
    demo_val_source = TokenSource(concat(tokens, demo_val_items)) if demo_val_items else None
    device = pick_device()
    if plan.continue_from is not None:
        model, _ = load_checkpoint(str(plan.continue_from), device=device)
        config = model.config
        model.train()
    else:
        config = ModelConfig(
            vocab_size=VOCAB_SIZE,
            n_layer=plan.n_layer,
            n_head=plan.n_head,
            n_embd=plan.n_embd,
            block_size=plan.block_size,
        )
        model = MusicTransformer(config).to(device)

    def held_out(source: TokenSource | None) -> float | None:
        if source is None:
            return None
        return evaluate(model, source, batches=25, batch_size=plan.batch_size, seed=plan.seed + 7)

    before = {"corpus": held_out(val_source), "demo": held_out(demo_val_source)} if plan.continue_from else {}
    if before:
        logger.info("held-out loss before: %s", before)
    demo_rows = round(plan.batch_size * plan.demo_fraction) if demo_train_source is not None else 0
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
        mix_source=demo_train_source,
        mix_rows=demo_rows,
        warmup_steps=plan.warmup_steps,
        stop_after=plan.stop_after,
    )
    held_out_loss = evaluate(model, val_source, batches=25, batch_size=plan.batch_size, seed=plan.seed + 7)
    demo_held_out_loss = held_out(demo_val_source)
    summary: dict[str, object] = {
        "architecture": config.to_dict(),
        "parameters": model.num_parameters(),
        "vocab_size": VOCAB_SIZE,
        "steps": result.steps,
        "batch_size": plan.batch_size,
        "tokens_seen": result.tokens_seen,
        "train_tokens": int(train_source.tokens.size) + (demo_train_source.tokens.size if demo_train_source else 0),
        "held_out_tokens": int(val_source.tokens.size),
        "train_items": len(corpus_train),
        "held_out_items": len(val_items) - len(demo_val_items),
        "epochs": round(result.tokens_seen * (1 - demo_rows / plan.batch_size) / max(1, train_source.tokens.size), 2),
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
    if plan.continue_from is not None:
        summary["continued_from"] = str(plan.continue_from)
        summary["held_out_before"] = {k: (round(v, 4) if v is not None else None) for k, v in before.items()}
        summary["lr"] = plan.lr
    if demo_train_source is not None:
        summary["demo"] = {
            "train_items": len(demo_train),
            "train_tokens": int(demo_train_source.tokens.size),
            "held_out_items": len(demo_val_items),
            "held_out_tokens": int(demo_val_source.tokens.size) if demo_val_source else 0,
            "rows_per_batch": demo_rows,
            "tokens_seen": result.steps * demo_rows * config.block_size,
            "epochs": round(result.steps * demo_rows * config.block_size / max(1, demo_train_source.tokens.size), 2),
            "held_out_loss": round(demo_held_out_loss, 4) if demo_held_out_loss is not None else None,
            "held_out_perplexity": round(math.exp(demo_held_out_loss), 3) if demo_held_out_loss is not None else None,
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
            **({"score_source": score} if (score := score_source(i.source_id)) else {}),
        }
        for i in items
    ]
    path.write_text(json.dumps({"items": rows}, separators=(",", ":")))


def write_model_card(path: Path, summary: dict[str, object], items: list[Item]) -> None:
    collections: dict[tuple[str, str], dict[str, object]] = {}
    for i in items:  # one row per collection and licence (a collection can mix licences)
        row = collections.setdefault(
            (i.collection, i.licence), {"items": 0, "tokens": 0, "licence": i.licence, "commercial": i.is_commercial_ok}
        )
        row["items"] = int(str(row["items"])) + 1
        row["tokens"] = int(str(row["tokens"])) + i.token_count
    arch = summary["architecture"]
    assert isinstance(arch, dict)
    lines = [
        "# SongForge catalog model",
        "",
        "A decoder-only transformer over our REMI-style tokens (generation/ml/tokenizer.py), trained "
        + ("from scratch" if "continued_from" not in summary else "from scratch, then continued")
        + " on CPU. It is the base model that every generation fine-tunes a copy of.",
        "",
        "## Data and licences",
        "",
        "| collection | items | tokens | commercial use | licence |",
        "|---|---:|---:|---|---|",
    ]
    for (name, _), row in sorted(collections.items()):
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
        f"- training tokens: {summary['train_tokens']} (corpus: {summary['train_items']} items); held out (2% of "
        f"corpus items by id hash): {summary['held_out_tokens']} tokens ({summary['held_out_items']} items)",
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
        *_continued_lines(summary),
        "## Rebuild",
        "",
        "```",
        str(summary["command"]),
        "```",
        "",
    ]
    path.write_text("\n".join(lines))


def _continued_lines(summary: dict[str, object]) -> list[str]:
    """Card lines on the demo-catalog mix and the held-out figures before/after continued training."""
    demo = summary.get("demo")
    before = summary.get("held_out_before")
    lines: list[str] = []
    if isinstance(demo, dict):
        lines += [
            "### Demo-catalog arrangements",
            "",
            f"- {demo['train_items']} arrangements ({demo['train_tokens']} tokens) trained on, "
            f"{demo['held_out_items']} ({demo['held_out_tokens']} tokens) held out by the same id hash; "
            f"{demo['rows_per_batch']} of every {summary['batch_size']} batch rows were demo windows "
            f"({demo['tokens_seen']} demo tokens seen, {demo['epochs']} epochs)",
            "",
        ]
    if isinstance(before, dict):
        after = {
            "corpus": summary.get("held_out_loss"),
            "demo": demo.get("held_out_loss") if isinstance(demo, dict) else None,
        }
        lines += [
            f"Continued from `{summary.get('continued_from')}` at peak LR {summary.get('lr')}:",
            "",
            "| held-out set | loss before | perplexity before | loss after | perplexity after |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, label in (("corpus", "music21 corpus (2% of items)"), ("demo", "demo-catalog arrangements (2%)")):
            b, a = before.get(name), after.get(name)
            if isinstance(b, float) and isinstance(a, float):
                lines.append(f"| {label} | {b:.4f} | {math.exp(b):.3f} | {a:.4f} | {math.exp(a):.3f} |")
        lines.append("")
    return lines
