"""The Prefect UI as a user meets it: `prefect-image-edit ui`, then headless Chromium.

Debian's chromium (scripts/dev installs it) driven by the `playwright` package; no browser
download. Screenshots go to $PREFECT_IMAGE_EDIT_SCREENS (default /work/notes/screens when it
exists, else the test's tmp dir).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _screens(tmp_path: Path) -> Path:
    default = Path("/work/notes/screens")
    folder = Path(
        os.environ.get("PREFECT_IMAGE_EDIT_SCREENS") or (default if default.is_dir() else tmp_path)
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`prefect-image-edit ui` in a subprocess: (ui url, run link, env); Ctrl-C at the end."""
    from prefect_image_edit.testing import free_port

    home = tmp_path_factory.mktemp("ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(home / "client-home")
    env["PREFECT_LOGGING_LEVEL"] = "INFO"  # the served runs' logs, as a user sees them
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect_image_edit.cli",
            "ui",
            "--home",
            str(home),
            "--port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 240
    run_link = ui_url = None
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        lines.append(line)
        if m := re.match(r"Prefect UI:\s+(\S+)", line):
            ui_url = m.group(1)
        if m := re.match(r"run an erase:\s+(\S+)", line):
            run_link = m.group(1)
            break
    assert run_link and ui_url, "".join(lines)
    yield ui_url, run_link, {**env, "PREFECT_API_URL": ui_url + "/api"}
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _stop_leftover_server(ui_url)


def _stop_leftover_server(ui_url: str) -> None:
    """The server ``ui`` started runs in a session of its own (so Ctrl-C reaches ``ui``, which
    stops it in order): if ``ui`` had to be killed, stop its server here, found by its port."""
    port = ui_url.rsplit(":", 1)[-1].split("/", 1)[0]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server" in argv and b"start" in argv and port.encode() in argv:
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)


@pytest.fixture(scope="module")
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (scripts/dev does it)")
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def _wait_text(page, pattern: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if re.search(pattern, page.inner_text("body")):
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{pattern!r} never showed; page: {page.inner_text('body')[:2000]}")


def test_catalog_lists_concrete_blocks_with_whole_descriptions(ui, page, tmp_path):
    ui_url, _, _ = ui
    page.goto(f"{ui_url}/blocks/catalog")
    _wait_text(page, "Image Edit Local Archive")
    body = page.inner_text("body")
    assert "Image Edit S3 Archive" in body
    assert "Archive Storage" not in body  # the abstract base is not offered
    page.screenshot(path=str(_screens(tmp_path) / "01-block-catalog.png"), full_page=True)


def test_erase_form_has_block_pickers_and_runs_on_a_click(ui, page, tmp_path):
    _, run_link, _ = ui
    page.goto(run_link)
    _wait_text(page, "(?i)connections")
    page.wait_for_timeout(1500)
    screens = _screens(tmp_path)
    page.screenshot(path=str(screens / "02-erase-form.png"), full_page=True)
    page.get_by_text(re.compile("^connections")).first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(screens / "02b-erase-form-pickers.png"))
    assert "emulator" in page.inner_text("body")  # the picker shows the saved block
    page.get_by_role("button", name=re.compile("^Submit")).click()
    # The UI goes to the deployment's Runs tab (or the new run): open the run from there.
    page.wait_for_url(re.compile(r"tab=Runs|/runs/flow-run/"), timeout=60_000)
    if "/runs/flow-run/" not in page.url:
        link = page.locator("a[href*='/runs/flow-run/']").first
        link.wait_for(timeout=30_000)
        page.goto(link.evaluate("a => a.href"))
    _wait_text(page, r"Completed", timeout_s=180)
    run_url = page.url.split("?")[0]
    page.goto(run_url)  # the Logs tab is the first
    _wait_text(page, r"erased on \w+ \(", timeout_s=60)  # the flow's one line per result
    page.screenshot(path=str(screens / "03-erase-logs.png"), full_page=True)
    page.get_by_text("Artifacts", exact=True).first.click()
    page.locator("text=erase-photo").first.click()
    page.wait_for_timeout(2000)
    _images_fit(page, 2)  # before and after, loaded, inside the window
    page.screenshot(path=str(screens / "04-erase-artifact.png"), full_page=True)


def _run_deployment(ui, name: str, *params: str, timeout_s: float = 240) -> str:
    """``prefect deployment run NAME --param ...`` against the ui's server, run to its end."""
    import httpx

    ui_url, _, env = ui
    argv = [sys.executable, "-m", "prefect", "deployment", "run", name]
    for param in params:
        argv += ["--param", param]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"UUID: (\S+)", done.stdout).group(1)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = httpx.get(f"{ui_url}/api/flow_runs/{run_id}", timeout=10).json()["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED"):
            return run_id
        time.sleep(1)
    raise AssertionError(f"the run {run_id} of {name} never finished")


def _open_artifact(page, ui_url: str, run_id: str, key: str) -> None:
    page.goto(f"{ui_url}/runs/flow-run/{run_id}")
    _wait_text(page, r"Failed|Completed", timeout_s=60)
    page.get_by_text("Artifacts", exact=True).first.click()
    _wait_text(page, key, timeout_s=30)
    page.locator(f"text={key}").first.click()
    page.wait_for_timeout(2000)


def _images_fit(page, minimum: int) -> None:
    images = page.locator("img[alt]")
    assert images.count() >= minimum
    for index in range(images.count()):
        image = images.nth(index)
        assert image.evaluate("i => i.complete && i.naturalWidth > 0")
        # inside the window and not hidden in the table's scroll box (past the side column)
        visible = image.evaluate(
            "i => { const r = i.getBoundingClientRect();"
            " const c = i.closest('table').parentElement.getBoundingClientRect();"
            " return r.right <= Math.min(c.right, window.innerWidth) + 1; }"
        )
        assert visible, image.bounding_box()


def test_three_variants_fit_at_1280_px(ui, page, tmp_path):
    ui_url = ui[0]
    run_id = _run_deployment(ui, "erase/erase-served", "variants=3")
    _open_artifact(page, ui_url, run_id, "erase-photo")
    _images_fit(page, 4)  # before + 3 variants, all inside the viewport
    page.screenshot(path=str(_screens(tmp_path) / "07-erase-3-variants.png"), full_page=True)


def test_try_on_shows_coarse_and_refined_side_by_side(ui, page, tmp_path):
    ui_url = ui[0]
    run_id = _run_deployment(ui, "try-on/try-on-served")
    _open_artifact(page, ui_url, run_id, "try-on-person")
    _images_fit(page, 3)
    tops = {round(page.locator("img[alt]").nth(i).bounding_box()["y"]) for i in range(3)}
    assert len(tops) == 1  # one row: person, coarse, refined
    page.screenshot(path=str(_screens(tmp_path) / "08-try-on.png"), full_page=True)


@pytest.fixture(scope="module")
def batch_run(ui) -> str:
    """The served batch on the samples (one broken file), run to its end; its flow run id."""
    import httpx

    ui_url, _, env = ui
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "deployment", "run", "batch-erase/batch-erase-served"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"UUID: (\S+)", done.stdout).group(1)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = httpx.get(f"{ui_url}/api/flow_runs/{run_id}", timeout=10).json()["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED"):
            return run_id
        time.sleep(1)
    raise AssertionError(f"the batch run {run_id} never finished")


def test_a_batch_with_a_bad_item_shows_its_reason(ui, page, batch_run, tmp_path):
    ui_url, _, _ = ui
    page.goto(f"{ui_url}/runs/flow-run/{batch_run}")
    _wait_text(page, r"Failed|Completed", timeout_s=60)
    page.screenshot(path=str(_screens(tmp_path) / "05-batch-run.png"), full_page=True)
    page.get_by_text("Artifacts", exact=True).first.click()
    _wait_text(page, "batch-erase-summary", timeout_s=30)
    page.locator("text=batch-erase-summary").first.click()
    _wait_text(page, "not an image", timeout_s=30)  # broken.jpg's reason
    page.screenshot(path=str(_screens(tmp_path) / "06-batch-summary.png"), full_page=True)


def test_a_failed_items_reason_is_on_screen_at_1280_px(ui, page, batch_run):
    ui_url, _, _ = ui
    page.goto(f"{ui_url}/runs/flow-run/{batch_run}")
    _wait_text(page, r"Failed|Completed", timeout_s=60)
    page.get_by_text("Artifacts", exact=True).first.click()
    _wait_text(page, "batch-erase-summary", timeout_s=30)
    page.locator("text=batch-erase-summary").first.click()
    _wait_text(page, "not an image", timeout_s=30)
    box = page.get_by_text(re.compile("not an image")).first.bounding_box()
    assert box and box["x"] + min(box["width"], 200) < 1280 and box["y"] < 900, box


def test_a_failed_batch_item_is_a_failed_task_run_named_after_its_file(ui, batch_run):
    import httpx

    ui_url, _, _ = ui
    task_runs = httpx.post(
        f"{ui_url}/api/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [batch_run]}}},
        timeout=10,
    ).json()
    failed = [t["name"] for t in task_runs if t["state"]["type"] == "FAILED"]
    assert any("broken.jpg" in name for name in failed), sorted(t["name"] for t in task_runs)
