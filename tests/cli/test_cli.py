"""The command line as users run it: real processes, the test session's Prefect API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw
from prefect.settings import PREFECT_API_URL

pytestmark = pytest.mark.usefixtures("prefect_api")


def _run(*args: str, cwd=None, extra_env=None, home=None) -> subprocess.CompletedProcess:
    """The command on the session's Prefect API; with ``home``, with no server configured and
    that ``PREFECT_HOME``."""
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    if home is not None:
        del env["PREFECT_API_URL"]
        env["PREFECT_HOME"] = str(home)
    env.update(extra_env or {})
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


def test_serve_parses_its_own_options_and_help():
    from prefect_image_edit.vendors import registry

    done = _run("serve", "--help")
    assert done.returncode == 0, done.stderr
    for name in (*registry.names(), "archive", "limit"):
        assert f"--{name}" in done.stdout


def test_serve_refuses_a_misspelt_block_in_one_line_before_serving():
    done = _run("serve", "--tencent", "prd")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "prd" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_api_is_one_line_with_what_to_do(photo, free_port_url):
    done = _run(
        "erase", str(photo), "--box", "75,45,125,95", extra_env={"PREFECT_API_URL": free_port_url}
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "does not answer" in line and "PREFECT_API_URL" in line


def test_a_free_erase_with_no_server_configured_runs_in_process(photo, tmp_path):
    """No PREFECT_API_URL, a free provider, no saved block: no temporary Prefect server is
    started (it would create its database under PREFECT_HOME), and the result is archived."""
    out = tmp_path / "clean.png"
    done = _run(
        "erase", str(photo), "--box", "75,45,125,95", "--out", str(out), home=tmp_path / "home"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(out)) and "archived file://" in done.stdout
    assert out.exists()
    home = tmp_path / "home"
    assert not list(home.glob("*.db")), sorted(p.name for p in home.iterdir())
    assert list((home / "image-edit" / "archive").rglob("*.png"))


def test_a_free_erase_runs_as_a_flow_when_a_server_is_configured(photo, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async def erase_runs() -> int:
        async with get_client() as client:
            return await client.count_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["erase"]))
            )

    before = asyncio.run(erase_runs())
    done = _run("erase", str(photo), "--box", "75,45,125,95", "--out", str(tmp_path / "o.png"))
    assert done.returncode == 0, done.stderr
    assert asyncio.run(erase_runs()) == before + 1


def test_the_ephemeral_api_start_timeout_is_one_line(photo, tmp_path):
    """A paid provider needs Prefect (its concurrency limits, retries): with no server
    configured a temporary one starts, and a start that times out is one line."""
    done = _run(
        "erase",
        str(photo),
        "--box",
        "75,45,125,95",
        "--provider",
        "tencent",
        "--out",
        str(tmp_path / "o.png"),
        home=tmp_path / "home",
        extra_env={"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1"},
    )
    if done.returncode == 0:
        pytest.skip("the temporary API started within 1 s here")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "PREFECT_API_URL" in line and "Traceback" not in done.stderr


def test_batch_prints_each_item_and_exits_1_when_one_fails(tmp_path):
    images, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    images.mkdir()
    masks.mkdir()
    for index in range(2):
        image = Image.new("RGB", (120, 90), (30, 140, 60))
        ImageDraw.Draw(image).ellipse((40, 30, 70, 60), fill=(220, 20, 20))
        image.save(images / f"p{index}.jpg")
        mask = Image.new("L", (120, 90), 0)
        ImageDraw.Draw(mask).ellipse((38, 28, 72, 62), fill=255)
        mask.save(masks / f"p{index}.png")
    (images / "broken.jpg").write_bytes(b"not an image")
    Image.new("L", (120, 90), 255).save(masks / "broken.png")
    done = _run("batch", str(images), "--masks", str(masks), "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert "failed  broken.jpg" in done.stdout.replace(str(images) + "/", "")
    assert "2 of 3 erased, 1 failed" in done.stdout
    # --format auto (the default): JPEG photos stay JPEG
    assert sorted(p.name for p in out.iterdir()) == ["p0-erased.jpg", "p1-erased.jpg"]
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def free_port_url():
    from prefect_image_edit.testing import free_port

    return f"http://127.0.0.1:{free_port()}/api"
