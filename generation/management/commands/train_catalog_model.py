"""Build the token corpus (once) and train the catalog model into generation/ml/weights/."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import torch
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from generation.ml import catalog_training, corpus

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "ml" / "weights"


class Command(BaseCommand):
    help = "Tokenise music21's corpus (once) and train the catalog model; writes weights, manifest and model card."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--corpus-dir", type=Path, default=None, help="default: DATA_DIR/ml/corpus")
        parser.add_argument("--rebuild-corpus", action="store_true", help="re-tokenise even if the corpus exists")
        parser.add_argument("--processes", type=int, default=2)
        parser.add_argument(
            "--corpus-max-files", type=int, default=None, help="first N corpus files in round-robin order"
        )
        parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
        parser.add_argument("--layers", type=int, default=4)
        parser.add_argument("--heads", type=int, default=4)
        parser.add_argument("--dim", type=int, default=256)
        parser.add_argument("--block", type=int, default=512)
        parser.add_argument("--batch", type=int, default=8)
        parser.add_argument("--steps", type=int, default=None)
        parser.add_argument("--time-budget-min", type=float, default=50.0)
        parser.add_argument("--threads", type=int, default=1)
        parser.add_argument("--seed", type=int, default=1234)
        parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
        parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 100)")
        parser.add_argument(
            "--continue-from",
            type=Path,
            default=None,
            help="continue training this checkpoint (keeps its architecture)",
        )
        parser.add_argument(
            "--demo-catalog",
            type=int,
            default=0,
            metavar="N",
            help="also train on the symbolic arrangements of demo-catalog entries demo-00001..N (no audio rendered)",
        )
        parser.add_argument("--demo-seed", type=int, default=0, help="demo catalog seed (the default catalog is 0)")
        parser.add_argument("--demo-dir", type=Path, default=None, help="default: DATA_DIR/ml/demo_corpus")
        parser.add_argument("--demo-fraction", type=float, default=0.5, help="share of batch rows from the demo")
        parser.add_argument(
            "--stop-after", type=int, default=None, help="end at this step; the LR schedule still spans --steps"
        )
        parser.add_argument("--skip-manifest-load", action="store_true")
        parser.add_argument(
            "--manifest-only", action="store_true", help="only load the committed manifest into TrainingRecording"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        if options["manifest_only"]:
            from generation.services.training import training_manifest_load

            loaded = training_manifest_load(manifest_path=options["out"] / catalog_training.MANIFEST_NAME)
            self.stdout.write(f"training manifest: {loaded} items loaded")
            return
        torch.set_num_threads(options["threads"])
        corpus_dir: Path = options["corpus_dir"] or settings.DATA_DIR / "ml" / "corpus"
        if options["rebuild_corpus"] or not (corpus_dir / "tokens.npy").exists():
            summary = corpus.build_corpus(
                corpus_dir, processes=options["processes"], max_files=options["corpus_max_files"]
            )
            self.stdout.write(f"corpus: {summary}")
        demo_dir: Path | None = None
        if options["demo_catalog"]:
            from demo import corpus as demo_corpus

            demo_dir = options["demo_dir"] or settings.DATA_DIR / "ml" / "demo_corpus"
            if not demo_corpus.demo_corpus_matches(demo_dir, count=options["demo_catalog"], seed=options["demo_seed"]):
                demo_summary = demo_corpus.build_demo_corpus(
                    demo_dir, count=options["demo_catalog"], seed=options["demo_seed"], processes=options["processes"]
                )
                self.stdout.write(f"demo corpus: {demo_summary}")
        plan = catalog_training.TrainingPlan(
            n_layer=options["layers"],
            n_head=options["heads"],
            n_embd=options["dim"],
            block_size=options["block"],
            batch_size=options["batch"],
            steps=options["steps"],
            time_budget_s=None if options["steps"] else options["time_budget_min"] * 60,
            seed=options["seed"],
            include_noncommercial=settings.ALLOW_NONCOMMERCIAL_TRAINING,
            lr=options["lr"],
            warmup_steps=options["warmup"],
            stop_after=options["stop_after"],
            continue_from=options["continue_from"],
            demo_dir=demo_dir,
            demo_fraction=options["demo_fraction"],
        )
        command = "python manage.py train_catalog_model " + " ".join(sys.argv[2:])
        result = catalog_training.run_training(corpus_dir, options["out"], plan, command=command.strip())
        self.stdout.write(
            f"trained {result['steps']} steps in {result['train_wall_time_s']} s; "
            f"held-out loss {result['held_out_loss']} (perplexity {result['held_out_perplexity']})"
        )
        if not options["skip_manifest_load"]:
            from generation.services.training import training_manifest_load

            loaded = training_manifest_load(manifest_path=options["out"] / catalog_training.MANIFEST_NAME)
            self.stdout.write(f"training manifest: {loaded} items loaded")
