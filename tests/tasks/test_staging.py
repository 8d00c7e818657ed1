"""Staging: recipes are versioned JSON (never a pickle), and old staged files are swept."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from PIL import Image

from prefect_image_edit.imaging import BoxMask, prepare_pair
from prefect_image_edit.tasks import prepare as staging
from prefect_image_edit.tasks.models import StagedFile


def _pair():
    buffer = io.BytesIO()
    Image.new("RGB", (200, 150), (10, 20, 30)).save(buffer, format="PNG")
    return prepare_pair(
        io.BytesIO(buffer.getvalue()), BoxMask(((10.0, 10.0, 60.0, 50.0),)), target="tencent"
    )


def test_recipe_round_trips_as_versioned_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_HOME", str(tmp_path))
    prepared, mask = _pair()
    staged = staging.stage_recipe(prepared, mask)
    raw = Path(staged.path).read_bytes()
    assert raw.startswith(b'{"version":1')
    image, loaded_mask = staging.load_recipe(staged)
    assert loaded_mask == mask
    assert image.frame == prepared.frame and image.data == b""


def test_a_recipe_of_another_version_means_prepare_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_HOME", str(tmp_path))
    data = b'{"version": 2, "image": {}, "mask": {}}'
    import hashlib

    staged = staging.stage_bytes(data, hashlib.sha256(data).hexdigest(), "application/json")
    assert staging.load_recipe(staged) is None
    gone = StagedFile(path=str(tmp_path / "nope.json"), sha256="0" * 64, size=1, media_type="x")
    assert staging.load_recipe(gone) is None


def test_old_staged_files_are_swept_and_used_ones_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_HOME", str(tmp_path))
    old = staging.stage_bytes(b"old", "a" * 64, "image/png")
    kept = staging.stage_bytes(b"kept", "b" * 64, "image/png")
    two_days = 2 * 24 * 3600
    past = time.time() - two_days
    for path in (old.path, kept.path):
        os.utime(path, (past, past))
    staging.stage_bytes(b"kept", "b" * 64, "image/png")  # used again: its age starts over
    monkeypatch.setattr(staging, "_last_sweep", 0.0)
    assert staging.sweep_staging() == 1
    assert not os.path.exists(old.path) and os.path.exists(kept.path)
    # At most once per interval per process.
    assert staging.sweep_staging() == 0
