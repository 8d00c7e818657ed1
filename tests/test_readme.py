"""Every shell command in the README is run by a test: the cheap ones here, on real files,
the emulators (through the vendors' environment variables) and the session's Prefect API;
the long-running ones by the test named beside them. A new README command fails
``test_every_readme_command_is_accounted_for`` until it is added below."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"

ELSEWHERE = {
    "scripts/dev ui": "tests/ui/test_browser.py (prefect-image-edit ui, clicked in Chromium)",
    "scripts/dev demo": "tests/cli/test_cli.py::test_demo_runs_every_flow_on_the_embedded_default",
    "scripts/dev test": "CI (.ci/run) runs it",
    "pip install": "the registry; scripts/dev installs the same way",
    "prefect worker start": "long-running; the deployments it runs are served in tests/ui",
    "prefect-image-edit emulate": "tests/emulators/test_control.py (the emulators' CLI)",
    "prefect-image-edit serve": "tests/cli/test_cli.py::test_serve_* (options, block check)",
    "createdb": "tests/cluster/conftest.py (creates the prefect and state databases)",
    "psql": "tests/cluster/conftest.py (CREATE EXTENSION pg_trgm)",
    "PREFECT_API_DATABASE_CONNECTION_URL=": "tests/cluster/conftest.py (the server's database)",
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE=": "tests/cluster/conftest.py (lease storage)",
    "prefect server start": "tests/cluster/conftest.py (a real server on PostgreSQL)",
    "export PREFECT_API_URL": "tests/cluster/machine_main.py (each machine's environment)",
    "export PREFECT_IMAGE_EDIT_STATE_URL": "tests/cluster/machine_main.py (the shared state)",
}


def readme_commands() -> list[str]:
    """Commands of the README's ```bash blocks, comments and prompts stripped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def _here(command: str) -> bool:
    return not any(command.startswith(prefix) for prefix in ELSEWHERE)


def test_every_readme_command_is_accounted_for():
    commands = readme_commands()
    assert commands, "the README has bash blocks"
    runnable = [c for c in commands if _here(c)]
    assert all(c.startswith(("prefect-image-edit ", "prefect ")) for c in runnable), runnable
    inline = re.findall(r"`(prefect-image-edit serve [^`]+)`", README.read_text())
    assert inline, "the README shows a serve line (run by the serve tests)"


def _scene(folder: Path, name: str, size=(160, 120)) -> Path:
    image = Image.new("RGB", size, (30, 140, 60))
    ImageDraw.Draw(image).ellipse((60, 40, 100, 80), fill=(220, 20, 20))
    path = folder / name
    image.save(path)
    return path


@pytest.fixture
def workdir(tmp_path) -> Path:
    """The files the README's commands name, in a fresh folder."""
    _scene(tmp_path, "photo.jpg", (320, 260))
    mask = Image.new("L", (320, 260), 0)
    ImageDraw.Draw(mask).ellipse((55, 35, 105, 85), fill=255)
    mask.save(tmp_path / "mask.png")
    for folder in ("photos", "masks"):
        (tmp_path / folder).mkdir()
    for index in range(2):
        _scene(tmp_path / "photos", f"p{index}.jpg")
        small = Image.new("L", (160, 120), 0)
        ImageDraw.Draw(small).ellipse((55, 35, 105, 85), fill=255)
        small.save(tmp_path / "masks" / f"p{index}.png")
    person = Image.new("RGB", (360, 720), (236, 230, 222))
    ImageDraw.Draw(person).rectangle((120, 140, 240, 400), fill=(200, 200, 200))
    person.save(tmp_path / "person.jpg")
    top = Image.new("RGB", (400, 400), (250, 250, 250))
    ImageDraw.Draw(top).rectangle((100, 90, 300, 340), fill=(30, 90, 200))
    top.save(tmp_path / "top.jpg")
    return tmp_path


@pytest.fixture(scope="module")
def vendor_env():
    """Each vendor's environment variables pointing at its emulator (from the registry)."""
    from prefect_image_edit.emulators import run_emulators
    from prefect_image_edit.vendors import registry

    with run_emulators(
        ailabtools={"task_queued_seconds": 0.1, "task_processing_seconds": 0.2}
    ) as emu:
        env = {}
        for spec in registry.specs():
            handle = getattr(emu, spec.name, None)
            if handle is None or spec.emulator_credentials is None:
                continue
            fields = spec.emulator_credentials(handle)
            env.update({spec.env[f]: str(v) for f, v in fields.items() if f in spec.env})
        yield env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    if argv[0] == "prefect-image-edit":
        argv = [sys.executable, "-m", "prefect_image_edit.cli", *argv[1:]]
    elif argv[0] == "prefect":
        argv = [sys.executable, "-m", "prefect", *argv[1:]]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("command", [c for c in readme_commands() if _here(c)])
def test_readme_command_runs(command, workdir, vendor_env):
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        **vendor_env,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_IMAGE_EDIT_HOME": str(workdir / "state"),
    }
    argv = shlex.split(command)
    cwd = workdir
    if "--prefect-file" in argv:  # the deploy line is written for the repository root
        cwd = ROOT
    done = _run(argv, cwd, env)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr


@pytest.mark.usefixtures("prefect_api")
def test_prefect_yaml_deploys_from_its_own_folder():
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    _run(["prefect", "work-pool", "create", "image-edit", "--type", "process"], ROOT, env)
    done = _run(["prefect", "--no-prompt", "deploy", "--all"], ROOT / "deployments", env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
