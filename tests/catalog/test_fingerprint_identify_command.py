"""`manage.py identify --json` names a sped-up upload and reports the scales the triplet engine fitted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command
from scipy.signal import resample_poly

from tests.uploads.conftest import RATE, indexed_catalog, make_recording, song, write_audio  # noqa: F401

pytestmark = pytest.mark.django_db


def test_identify_json_reports_the_fitted_scales_of_a_sped_up_clip(tmp_path, indexed_catalog, capsys):  # noqa: F811
    clip = song(2)[RATE // 2 : int(7.5 * RATE)]
    faster = resample_poly(clip, 1000, 1050).astype(np.float32)  # played 5 % fast: pitch and tempo
    path = write_audio(tmp_path / "fast.wav", faster)
    call_command("identify", str(path), "--json")
    row = json.loads(capsys.readouterr().out)
    assert (row["status"], row["recording"]["id"]) == ("matched", "demo-2")
    assert row["scale_freq"] == pytest.approx(1.05, rel=0.01)
    assert row["scale_time"] == pytest.approx(1 / 1.05, rel=0.015)
