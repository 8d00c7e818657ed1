"""What the figures stand on: servers started on first use and always stopped, and the
subprocesses (the pack's flows, the plain script) run with the right environment.

The harness process itself never imports Prefect: the emulators (no Prefect inside), SeaweedFS
and a ``prefect server start`` subprocess run here; every flow runs in a fresh subprocess
(``runner.py``) whose environment points at them, and reports its timings as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from prefect_image_edit.bench.images import PhotoSet, make_photos
from prefect_image_edit.bench.runner import READY, RESULT_PREFIX
from prefect_image_edit.bench.servers import (
    PrefectServer,
    base_environment,
    run_prefect_server,
    stop_process,
)

__all__ = ["BUCKET", "Harness", "SubprocessFailed"]

BUCKET = "pie-bench"
ARCHIVE = "bench"
BASELINE_SCRIPT = Path(__file__).with_name("baseline.py")


class SubprocessFailed(RuntimeError):
    """A measured subprocess exited non-zero, printed no result, or overran its time bound."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Harness:
    """Owns every server and temporary file of one ``bench`` run; use as a context manager."""

    def __init__(self, *, keep: bool = False) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="pie-bench-"))
        self.keep = keep
        self._stack = contextlib.ExitStack()
        self._emu = None
        self._s3 = None
        self._prefect: PrefectServer | None = None
        self._photo_sets = 0
        self._limit: int | None = None
        self.client_home = self.workdir / "prefect-home"
        self.pack_home = self.workdir / "image-edit-home"
        self.memo: dict[str, Any] = {}  # results figures share (a finished batch...)

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            if not self.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)

    # -- servers, started on first use -------------------------------------------------
    @property
    def emu(self):
        if self._emu is None:
            from prefect_image_edit.emulators import run_emulators

            self._emu = self._stack.enter_context(run_emulators())
            log(f"emulators up (tencent at {self._emu.tencent.base_url})")
        return self._emu

    @property
    def s3(self):
        if self._s3 is None:
            from prefect_image_edit.testing import run_seaweedfs

            for attempt in range(3):  # a port another process grabbed first: try new ones
                try:
                    self._s3 = self._stack.enter_context(run_seaweedfs())
                    break
                except RuntimeError as error:
                    if attempt == 2:
                        raise
                    log(f"seaweedfs did not start ({str(error)[:120]}...); retrying")
            self._s3.create_bucket(BUCKET)
            log(f"seaweedfs up at {self._s3.endpoint_url}")
        return self._s3

    @property
    def prefect(self) -> PrefectServer:
        if self._prefect is None:
            started = time.perf_counter()
            self._prefect = self._stack.enter_context(run_prefect_server())
            log(
                f"prefect server up at {self._prefect.url} (pid {self._prefect.pid}) "
                f"in {time.perf_counter() - started:.1f} s"
            )
        return self._prefect

    def tencent(self, *, latency: float, concurrency: int) -> None:
        """Set the emulated Tencent latency and its per-account concurrency limit (both sides)."""
        settings = self.emu.settings.tencent
        settings.latency = latency
        settings.max_concurrency = concurrency

    def billable(self) -> int:
        return self.emu.counters.billable("tencent")

    # -- data --------------------------------------------------------------------------
    def photos(self, count: int) -> PhotoSet:
        """A new set of unique photos (never seen by any earlier run)."""
        self._photo_sets += 1
        return make_photos(self.workdir / f"photos-{self._photo_sets:02d}", count)

    def split(self, photos: PhotoSet, parts: int) -> list[PhotoSet]:
        """The same photos spread over ``parts`` folder pairs (hard links, no copies)."""
        root = photos.root
        sets = [PhotoSet(root.with_name(f"{root.name}-part{i}")) for i in range(parts)]
        for part in sets:
            part.images.mkdir(parents=True, exist_ok=True)
            part.masks.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(photos.image_paths()):
            part = sets[index % parts]
            os.link(image, part.images / image.name)
            os.link(photos.masks / f"{image.stem}.png", part.masks / f"{image.stem}.png")
        return sets

    # -- environments ------------------------------------------------------------------
    def vendor_env(self) -> dict[str, str]:
        ep = self.emu.tencent
        return {
            "TENCENTCLOUD_SECRET_ID": ep.secret_id,
            "TENCENTCLOUD_SECRET_KEY": ep.secret_key,
            "TENCENTCLOUD_REGION": ep.region,
            "TENCENTCLOUD_AIART_ENDPOINT_URL": ep.base_url,
        }

    def pack_env(self, api_url: str | None = None) -> dict[str, str]:
        """What a flow process of the pack sees: the bench's server, homes and credentials."""
        env = base_environment()
        env.update(self.vendor_env())
        env.update(
            PREFECT_API_URL=api_url or self.prefect.api_url,
            PREFECT_HOME=str(self.client_home),
            PREFECT_IMAGE_EDIT_HOME=str(self.pack_home),
            PREFECT_LOGGING_LEVEL="ERROR",
        )
        return env

    def s3_env(self) -> dict[str, str]:
        env = base_environment()
        env.update(
            BENCH_S3_ENDPOINT=self.s3.endpoint_url,
            AWS_ACCESS_KEY_ID=self.s3.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.s3.secret_access_key,
        )
        return env

    # -- the pack's side ---------------------------------------------------------------
    def setup_pack(self, limit: int, archives: dict[str, str] | None = None) -> None:
        """Save the archive block(s) and set the Prefect limit (a runner does it: Prefect)."""
        archives = archives or {ARCHIVE: self.s3.endpoint_url}
        if self._limit == limit and not (set(archives) - self.memo.get("archives", set())):
            return
        self.run_runner(
            {
                "action": "setup",
                "limit": limit,
                "archives": archives,
                "bucket": BUCKET,
                "access_key_id": self.s3.access_key_id,
                "secret_access_key": self.s3.secret_access_key,
            },
            timeout=180,
        )
        self._limit = limit
        self.memo.setdefault("archives", set()).update(archives)

    def batch_spec(self, photos: PhotoSet, concurrency: int, archive: str = ARCHIVE) -> dict:
        return {
            "action": "batch",
            "images": str(photos.images),
            "masks": str(photos.masks),
            "concurrency": concurrency,
            "archive": archive,
        }

    def run_runner(
        self, spec: dict[str, Any], *, timeout: float, env: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return self.run_runners([spec], timeout=timeout, env=env)[0]

    def run_runners(
        self, specs: list[dict[str, Any]], *, timeout: float, env: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run runners at once; with several, they start their flows together (a barrier)."""
        env = env or self.pack_env()
        barrier = len(specs) > 1
        command = [sys.executable, "-m", "prefect_image_edit.bench.runner"]
        processes: list[subprocess.Popen] = []
        logs: list[Path] = []
        with contextlib.ExitStack() as files:
            try:
                for index, spec in enumerate(specs):
                    logs.append(self.workdir / f"runner-{time.monotonic_ns()}-{index}.log")
                    processes.append(
                        subprocess.Popen(
                            [*command, json.dumps({**spec, "barrier": barrier})],
                            env=env,
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            stderr=files.enter_context(logs[-1].open("wb")),
                            text=True,
                            start_new_session=True,
                        )
                    )
                deadline = time.monotonic() + timeout
                readers = [_Lines(process) for process in processes]
                if barrier:
                    for reader, path in zip(readers, logs, strict=True):
                        _wait_line(reader, READY, deadline, path)
                    for process in processes:
                        process.stdin.write("go\n")
                        process.stdin.flush()
                return [
                    _collect(reader, deadline, path)
                    for reader, path in zip(readers, logs, strict=True)
                ]
            finally:
                for process in processes:
                    stop_process(process)

    # -- the plain script --------------------------------------------------------------
    def run_baseline(self, photos: PhotoSet, workers: int, prefix: str) -> dict[str, Any]:
        env = self.s3_env()
        env.update(self.vendor_env())
        command = [sys.executable, str(BASELINE_SCRIPT), "--images", str(photos.images)]
        command += ["--masks", str(photos.masks), "--bucket", BUCKET, "--prefix", prefix]
        command += ["--workers", str(workers)]
        return run_json(command, env=env, timeout=600, log_to=self.workdir / "baseline.log")


class _Lines:
    """Every stdout line of a process, read by a thread as it comes (no pipe can fill up)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.queue.put(line)
        self.queue.put(None)

    def next(self, deadline: float) -> str | None:
        """The next line; None at end of output. Raises TimeoutError past ``deadline``."""
        try:
            line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError from None
        if line is not None:
            self.seen.append(line)
        return line


def _wait_line(lines: _Lines, wanted: str, deadline: float, log_path: Path) -> None:
    try:
        while (line := lines.next(deadline)) is not None:
            if line.strip() == wanted:
                return
    except TimeoutError:
        raise SubprocessFailed(f"runner not ready in time:\n{_tail(log_path)}") from None
    raise SubprocessFailed(f"runner exited before it was ready:\n{_tail(log_path)}")


def _collect(lines: _Lines, deadline: float, log_path: Path) -> dict[str, Any]:
    try:
        while lines.next(deadline) is not None:
            pass
        lines.process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        stop_process(lines.process)
        raise SubprocessFailed(f"runner overran its time bound:\n{_tail(log_path)}") from None
    for line in reversed(lines.seen):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise SubprocessFailed(
        f"runner exited with {lines.process.returncode} and no result:\n{_tail(log_path)}"
    )


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def run_json(
    command: list[str], *, env: dict[str, str], timeout: float, log_to: Path | None = None
) -> dict[str, Any]:
    """Run a command in its own session; its last stdout line is JSON. Killed on overrun."""
    process = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(process)
        raise SubprocessFailed(f"{Path(command[1]).name} overran {timeout} s") from None
    finally:
        stop_process(process)
    if log_to is not None:
        with log_to.open("a") as handle:
            handle.write(stderr)
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise SubprocessFailed(
            f"{' '.join(command[:3])} exited with {process.returncode}:\n{stderr[-3000:]}"
        )
    return json.loads(lines[-1])
