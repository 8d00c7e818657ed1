"""``prefect-image-edit ui``: the Prefect UI with the pack ready to click, in one command.

It starts (or reuses, when ``PREFECT_API_URL`` answers) a local ``prefect server start`` on
127.0.0.1 with file-backed concurrency leases, starts the vendor emulators, saves a
credentials block named ``emulator`` per vendor (pointing at its emulator) and a local archive
block ``image-edit-local-archive/local``, writes sample inputs, serves the deployments with
those as their defaults, and prints the UI address and a run link: the erase form needs nothing
typed. Ctrl-C stops the deployments, the emulators and the server it started.

The names are the ones ``deployments/prefect.yaml`` and ``prefect-image-edit demo`` use.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

__all__ = [
    "ARCHIVE_BLOCK",
    "CREDENTIALS_BLOCK",
    "LEASE_STORAGE",
    "prefect_server",
    "run_ui",
    "save_emulator_blocks",
]

CREDENTIALS_BLOCK = "emulator"
"""The name of each vendor's credentials block pointing at its emulator."""
ARCHIVE_BLOCK_NAME = "local"
ARCHIVE_BLOCK = f"image-edit-local-archive/{ARCHIVE_BLOCK_NAME}"
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"
SERVER_START_TIMEOUT_S = 120.0


def _answers(api_url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(api_url.rstrip("/") + "/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(
    home: Path, port: int = 4200, *, timeout: float = SERVER_START_TIMEOUT_S
) -> Iterator[str]:
    """A ``prefect server start`` on 127.0.0.1 for the block; yields its API URL.

    Its database lives under ``home``; leases are file-backed (a restart leaks no vendor
    slot). The port is ``port`` when free, else any free one (then ``PREFECT_UI_API_URL``
    tells the UI where its API is). Stopped (SIGTERM, then SIGKILL) on exit.
    """
    home.mkdir(parents=True, exist_ok=True)
    if not _free(port):
        port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect-home"),
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASE_STORAGE,
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    log = (home / "server.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us; we stop it in order
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(api_url, timeout=1.0):
            if process.poll() is not None:
                raise RuntimeError(
                    f"prefect server start exited with {process.returncode}; see "
                    f"{home / 'server.log'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Prefect server did not answer within {timeout:.0f} s; see "
                    f"{home / 'server.log'}"
                )
            time.sleep(0.25)
        yield api_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


async def save_emulator_blocks(emulators: Any, archive_dir: Path) -> dict[str, Any]:
    """Save each vendor's credentials block (``emulator``) pointing at its emulator, and the
    local archive block; return the ``connections`` default as block document references."""
    from prefect_image_edit.blocks import LocalArchiveStorage
    from prefect_image_edit.vendors import registry

    references: dict[str, Any] = {}
    for spec in registry.specs():
        handle = getattr(emulators, spec.name, None)
        if handle is None or spec.emulator_credentials is None:
            continue
        block = spec.block_type()(**spec.emulator_credentials(handle))
        document_id = await block.asave(CREDENTIALS_BLOCK, overwrite=True)
        references[spec.name] = {"$ref": {"block_document_id": str(document_id)}}
    archive = LocalArchiveStorage(base_path=str(archive_dir))
    document_id = await archive.asave(ARCHIVE_BLOCK_NAME, overwrite=True)
    references["archive"] = {"$ref": {"block_document_id": str(document_id)}}
    return references


def _default_provider() -> str:
    """The first vendor that erases (its emulator answers like the vendor), else local."""
    from prefect_image_edit.vendors.registry import erase_providers

    providers = erase_providers()
    return providers[1] if len(providers) > 1 else providers[0]


def form_defaults(samples: dict[str, Path], provider: str) -> dict[str, dict[str, Any]]:
    """Parameter defaults per flow, so each form runs with one click on the samples."""
    return {
        "erase": {
            "image": str(samples["photo"]),
            "mask": {"mask": str(samples["mask"])},
            "provider": provider,
            # the form flags a null list ("Property is type None"): an empty chain instead
            "fallback": [],
        },
        "batch-erase": {
            "source": {"images": str(samples["batch"]), "masks": str(samples["masks"])},
            "provider": provider,
            "fallback": [],
        },
        "try-on": {
            "person_image": str(samples["person"]),
            "top_garment": str(samples["top"]),
            "gender": "man",
        },
    }


def _apply(deployments: list) -> dict[str, str]:
    """Create (or update) the deployments now, so their ids are known before serving."""
    import asyncio

    async def apply() -> dict[str, str]:
        return {d.flow_name: str(await d.apply()) for d in deployments}

    return asyncio.run(apply())


def run_ui(
    home: str | os.PathLike[str] = ".prefect-image-edit-ui",
    port: int = 4200,
    provider: str | None = None,
    *,
    open_browser: bool = False,
) -> int:
    """Run the UI set-up until Ctrl-C (see the module docstring)."""
    root = Path(home).resolve()
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    reuse = os.environ.get("PREFECT_API_URL")
    if reuse and not _answers(reuse):
        raise RuntimeError(
            f"PREFECT_API_URL={reuse} does not answer: start that server or unset the variable"
        )
    with _server_or_reuse(reuse, root, port) as api_url:
        os.environ["PREFECT_API_URL"] = api_url  # before Prefect's settings are read
        os.environ.setdefault("PREFECT_IMAGE_EDIT_HOME", str(root / "state"))
        os.environ.setdefault("PREFECT_IMAGE_EDIT_POLL_INTERVAL", "0.5")
        return _serve_with_emulators(root, api_url, provider, started, open_browser)


@contextmanager
def _server_or_reuse(reuse: str | None, root: Path, port: int) -> Iterator[str]:
    if reuse:
        print(f"using the Prefect server at {reuse}")
        yield reuse
        return
    print(f"starting a Prefect server on 127.0.0.1 (data in {root})...", flush=True)
    with prefect_server(root, port) as api_url:
        yield api_url


def _serve_with_emulators(
    root: Path, api_url: str, provider: str | None, started: float, open_browser: bool
) -> int:
    import asyncio

    from prefect_image_edit.demo import make_samples
    from prefect_image_edit.deployments.serve import build_deployments, ensure_vendor_limits
    from prefect_image_edit.emulators import run_emulators

    samples = make_samples(root / "samples")
    with run_emulators(
        ailabtools={"task_queued_seconds": 0.5, "task_processing_seconds": 1.0}
    ) as emulators:

        async def prepare() -> dict[str, Any]:
            await ensure_vendor_limits()
            return await save_emulator_blocks(emulators, root / "archive")

        connections = asyncio.run(prepare())
        deployments = build_deployments(
            connections, defaults=form_defaults(samples, provider or _default_provider())
        )
        ids = _apply(deployments)
        ui_url = api_url.removesuffix("/api")
        run_link = f"{ui_url}/deployments/deployment/{ids['erase']}/run"
        print(f"ready in {time.monotonic() - started:.0f} s")
        print(f"Prefect UI:     {ui_url}")
        print(f"run an erase:   {run_link}  (click Submit: the form is filled in)")
        print(f"blocks:         {', '.join(sorted(connections))} (saved for the emulators)")
        print(f"terminal:       export PREFECT_API_URL={api_url}  (commands then start no server)")
        print("Ctrl-C stops the deployments, the emulators and the server.", flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(run_link)
        from prefect import serve

        with suppress(KeyboardInterrupt):
            serve(*deployments, limit=4, print_starting_message=False)
    print("stopped.")
    return 0
