"""One module per distributor; ``distributor_for`` picks the configured one."""

from __future__ import annotations

from distribution.clients.base import Distributor


def distributor_for(name: str) -> Distributor:
    """The client for ``name`` ("outbox" or "platoon"), configured from settings."""
    if name == "outbox":
        from distribution.clients.outbox import OutboxDistributor

        return OutboxDistributor()
    if name == "platoon":
        from distribution.clients.platoon import PlatoonClient

        return PlatoonClient()
    raise ValueError(f"Unknown distributor {name!r}; use 'outbox' or 'platoon'.")
