"""Generation services. Pages and APIs call these; see pipeline.py for the stage machinery."""

from generation.services.pipeline import generation_advance, generation_cancel, generation_run, generation_start

__all__ = ["generation_advance", "generation_cancel", "generation_run", "generation_start"]
