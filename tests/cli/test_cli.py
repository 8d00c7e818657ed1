"""The command line as users run it: real processes, the test session's Prefect API."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw
from prefect.settings import PREFECT_API_URL

pytestmark = pytest.mark.usefixtures("prefect_api")


def _run(*args: str, cwd=None, extra_env=None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        **(extra_env or {}),
    }
    for name in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "prefect_image_edit.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


@pytest.fixture
def photo(tmp_path):
    image = Image.new("RGB", (200, 150), (30, 140, 60))
    ImageDraw.Draw(image).ellipse((80, 50, 120, 90), fill=(220, 20, 20))
    path = tmp_path / "photo.jpg"
    image.save(path)
    return path


def test_erase_with_the_local_provider_writes_the_result(photo, tmp_path):
    out = tmp_path / "clean.png"
    done = _run("erase", str(photo), "--box", "75,45,125,95", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(out))
    with Image.open(out) as result:
        assert result.size == (200, 150)
        red, green, _ = result.convert("RGB").getpixel((100, 70))
        assert red < green  # the red ball is gone


def test_a_dry_run_prints_what_it_would_cost_and_writes_nothing(photo, tmp_path):
    out = tmp_path / "clean.png"
    done = _run("erase", str(photo), "--box", "75,45,125,95", "--out", str(out), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "provider=local" in done.stdout
    assert "status=free" in done.stdout or "status=cached" in done.stdout  # local costs nothing
    assert "would cost 0 credits (0 paid calls)" in done.stdout
    assert not out.exists()


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (
            lambda p, t: ["erase", str(t / "nope.png"), "--box", "1,1,5,5"],
            "nope.png: file not found",
        ),
        (lambda p, t: ["erase", str(t / "bad.jpg"), "--box", "1,1,5,5"], "bad.jpg: not an image"),
        (lambda p, t: ["erase", str(p), "--box", "0,0,200,150"], "whole image"),
        (
            lambda p, t: ["erase", str(p), "--box", "75,45,125,95", "--provider", "tencent"],
            "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY",
        ),
    ],
    ids=["missing-file", "not-an-image", "mask-covers-everything", "no-credentials"],
)
def test_bad_input_ends_with_one_line_and_a_non_zero_exit(photo, tmp_path, make_args, expected):
    (tmp_path / "bad.jpg").write_bytes(b"this is text")
    done = _run(*make_args(photo, tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("prefect-image-edit: error: ")
    assert expected in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_demo_runs_every_flow_on_the_embedded_default(tmp_path):
    done = _run(
        "demo", "--output", str(tmp_path / "demo"), extra_env={"PREFECT_LOGGING_LEVEL": "CRITICAL"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for provider in ("local", "ailabtools", "tencent", "volcengine"):
        assert (tmp_path / "demo" / f"photo-erased-{provider}.png").is_file()
    assert "4 of 5 items erased, 1 failed" in done.stdout
    assert "refined ->" in done.stdout
    assert "Traceback" not in done.stderr
