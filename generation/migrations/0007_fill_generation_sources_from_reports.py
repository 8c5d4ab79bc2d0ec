"""Fill GenerationSource for generations finished before the table existed, from report["influence"].

Each entry's weight is read exactly as split sheets used to read it: a JSON float through its
shortest decimal repr (``0.1`` -> 1/10, not the binary float), an int or a decimal string as
written, a missing share as 0; entries without a recording are left out. The weights become
parts per billion with the same largest-remainder helper the report stage uses, so each
generation's rows sum to exactly 10⁹. A generation whose rows exist, or whose weights are all 0,
is left alone; so is an entry whose recording no longer exists (the table needs a recording).
"""

from collections import defaultdict
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from django.db import migrations

from royalties.services import PPB, largest_remainder


def _weight(share: Any) -> Fraction | None:
    """The exact weight an influence entry's share stood for (None if it is not a number)."""
    if share is None:
        return Fraction(0)
    if isinstance(share, bool):
        return None
    if isinstance(share, float):
        return Fraction(repr(share))
    if isinstance(share, int):
        return Fraction(share)
    try:
        return Fraction(Decimal(str(share).strip()))
    except (InvalidOperation, ValueError):
        return None


def _fill(apps: Any, schema_editor: Any) -> None:
    generation_model = apps.get_model("generation", "Generation")
    source_model = apps.get_model("generation", "GenerationSource")
    upload_model = apps.get_model("uploads", "Upload")
    recording_model = apps.get_model("catalog", "Recording")
    done = set(source_model.objects.values_list("generation_id", flat=True).distinct())
    for generation in generation_model.objects.exclude(pk__in=done).order_by("pk").iterator():
        entries = (generation.report or {}).get("influence") if isinstance(generation.report, dict) else None
        if not isinstance(entries, list) or not entries:
            continue
        weights: dict[int, Fraction] = defaultdict(Fraction)
        recording_of: dict[int, int] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("recording_id") is None or entry.get("upload_id") is None:
                continue
            weight = _weight(entry.get("share"))
            if weight is None or weight < 0:
                continue
            upload_id = int(entry["upload_id"])
            weights[upload_id] += weight
            recording_of.setdefault(upload_id, int(entry["recording_id"]))
        existing_recordings = set(
            recording_model.objects.filter(pk__in=set(recording_of.values())).values_list("pk", flat=True)
        )
        weights = {u: w for u, w in weights.items() if recording_of[u] in existing_recordings}
        if not any(weights.values()):
            continue
        shares = largest_remainder(PPB, weights)
        existing_uploads = set(upload_model.objects.filter(pk__in=list(shares)).values_list("pk", flat=True))
        source_model.objects.bulk_create(
            source_model(
                generation_id=generation.pk,
                upload_id=upload_id if upload_id in existing_uploads else None,
                recording_id=recording_of[upload_id],
                share_ppb=shares[upload_id],
            )
            for upload_id in sorted(shares)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_share_sum_trigger_postgres"),
        ("uploads", "0001_move_upload_models_from_generation"),
        ("generation", "0006_generation_source_sum_trigger_postgres"),
    ]

    operations = [migrations.RunPython(_fill, migrations.RunPython.noop)]
