"""Benchmark: CPU cost of keeping 1,000 pending AILabTools jobs polled, one loop vs one task each.

What runs:

1. ``prefect-image-edit emulate --json`` starts the emulators in their own process (their CPU
   is not counted), with try-on tasks that stay queued for a day, so every job is pending for
   the whole measurement. The script reads the one JSON line for the base URL and API key.
2. It submits ``--jobs`` (1,000) Try on Clothes Pro jobs through ``AILabToolsClient``.
3. For each backend, interval (``--intervals``: 5 s, the vendor's advice, and 1 s) and design,
   a fresh worker process (this script with ``--worker``) polls every job and measures its own
   CPU time (``time.process_time``, all threads) and wall time over ``--window`` seconds, after
   ``--warmup`` intervals so that the first-poll spread is over. Designs:

   - ``poller``: :class:`prefect_image_edit.polling.JobPoller`: one loop, one heap of due
     times, at most 16 queries in flight.
   - ``naive``: one asyncio task per job, each ``sleep(interval)`` then ``query`` in a loop (same
     jitter, same first-poll spread, same back-off, same client and connection pool).
   - ``naive+cap``: the same with a semaphore of 16 around each query.

   Backends: ``emulator`` polls through a real ``AILabToolsClient`` over HTTP;
   ``no-http`` replaces the query with a 5 ms ``asyncio.sleep`` returning a prebuilt
   "queued" answer, which isolates what the scheduling design itself costs.
   Designs alternate in order between repeats (``--repeat``); cells are medians.
4. The emulator process is stopped (SIGTERM, then SIGKILL) whatever happens.

Columns: ``target/s`` = jobs / interval, the poll rate a design should sustain; ``polls/s`` what
it achieved (below target means a bottleneck: the emulator serves about 200-250 queries a second
on a small machine); ``CPU %core`` = CPU seconds / wall seconds x 100, the share of one core the
polling process used; ``CPU us/poll`` its cost per query; the two ratios are design / poller
(above 1: the poller is cheaper). Over HTTP most CPU is the client itself (building, sending and
parsing a request), which no scheduling design removes. The design the issue rules out, one
Prefect task per job, is not measured here.

Usage::

    .venv/bin/python benchmarks/bench_polling.py                   # 1,000 jobs, 5 s and 1 s
    .venv/bin/python benchmarks/bench_polling.py --repeat 3 --window 30 --backends no-http

Nothing leaves 127.0.0.1. Each worker is killed after ``warmup + window + 60`` s, and the whole
run is bounded by ``--max-seconds`` (SIGALRM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from prefect_image_edit.polling import JobPoller, PollTarget
from prefect_image_edit.vendors import AILabToolsClient, VendorError
from prefect_image_edit.vendors.results import TaskResult, TaskState

STARTUP_TIMEOUT_S = 60.0
SUBMIT_CONCURRENCY = 16
QUEUED_FOR_S = 86_000  # jobs stay queued (pending) this long at the emulator
DESIGNS = ("poller", "naive", "naive+cap")
BACKENDS = ("emulator", "no-http")
JITTER = 0.1
FAKE_ROUND_TRIP_S = 0.005


# --- the emulator process ------------------------------------------------------------------------


def start_emulator(log: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``prefect-image-edit emulate --json``; return the process and its connection info."""
    script = Path(sys.executable).with_name("prefect-image-edit")
    command = (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "import sys; from prefect_image_edit.cli import main; "
              "sys.exit(main())"]
    )  # fmt: skip
    command += [
        "emulate",
        "--json",
        "--set",
        f"ailabtools.task_queued_seconds={QUEUED_FOR_S}",
        "--set",
        "ailabtools.credits=null",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
    )
    ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line:
        stop_emulator(process)
        raise RuntimeError(f"the emulator did not start; see {log}:\n{log.read_text()[-2000:]}")
    # Keep draining stdout so the emulator can never block on a full pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, json.loads(line)


def stop_emulator(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


# --- submitting the jobs -------------------------------------------------------------------------


def _picture(size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (150, 120, 90)).save(buffer, fmt)
    return buffer.getvalue()


async def submit_jobs(base_url: str, api_key: str, jobs: int) -> list[str]:
    """Submit ``jobs`` Try on Clothes Pro jobs (the smallest images the API accepts)."""
    person, top = _picture((160, 320), "PNG"), _picture((160, 160), "JPEG")
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    async with AILabToolsClient(api_key, base_url=base_url) as client:

        async def one() -> str:
            async with gate:
                return (await client.submit_try_on_pro(person, top)).task_id

        return list(await asyncio.gather(*(one() for _ in range(jobs))))


# --- a worker: one design, one interval, measured ------------------------------------------------


async def naive(query, task_ids: list[str], interval: float, cap: int | None) -> None:
    """The design JobPoller replaces: one task per job, each sleeping and polling.

    ``cap``: a semaphore on queries in flight (the careful variant), or none.
    """
    gate = asyncio.Semaphore(cap) if cap else contextlib.nullcontext()

    async def one(task_id: str) -> None:
        await asyncio.sleep(random.random() * interval)
        errors = 0
        while True:
            try:
                async with gate:
                    result = await query(task_id)
                errors = 0
                if result.state.terminal:
                    return
            except VendorError:
                errors += 1
            base = min(interval * 2**errors, 60.0)
            await asyncio.sleep(base * (1 + JITTER * random.random()))  # as JobPoller.delay

    await asyncio.gather(*(one(task_id) for task_id in task_ids))


def fake_vendor(task_ids: list[str]):
    """A query with no HTTP: a fixed round trip, then "queued" (one prebuilt answer a job)."""
    answers = {
        task_id: TaskResult(
            vendor="ailabtools", action="query-async-task-result", task_id=task_id,
            state=TaskState.QUEUED,
        )
        for task_id in task_ids
    }  # fmt: skip

    async def query(task_id: str) -> TaskResult:
        await asyncio.sleep(FAKE_ROUND_TRIP_S)
        return answers[task_id]

    return query


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Poll every job with one design; CPU and wall time over the window, after a warm-up."""
    counts = {"polls": 0, "errors": 0, "finished": 0}
    # Per job, when it was last asked; the gap before each poll sent inside the window (a
    # poll-weighted sample of gaps, so not biased towards short ones as "gaps that fit in the
    # window" would be) says how often a job is polled with far less noise than a count does.
    last_sent: dict[str, float] = {}
    gaps = {"sum": 0.0, "n": 0}
    window_open = [False]
    async with contextlib.AsyncExitStack() as stack:
        if args.backend == "emulator":
            task_ids: list[str] = json.loads(Path(args.tasks).read_text())
            client = AILabToolsClient(args.api_key, base_url=args.base_url)
            await stack.enter_async_context(client)
            vendor_query = client.query_async_task
        else:
            task_ids = [f"fake-{i}" for i in range(args.jobs)]
            vendor_query = fake_vendor(task_ids)

        async def query(task_id: str) -> TaskResult:
            counts["polls"] += 1
            now = time.perf_counter()
            previous = last_sent.get(task_id)
            last_sent[task_id] = now
            if window_open[0] and previous is not None:
                gaps["sum"] += now - previous
                gaps["n"] += 1
            try:
                result = await vendor_query(task_id)
            except VendorError:
                counts["errors"] += 1
                raise
            counts["finished"] += result.state is not TaskState.QUEUED
            return result

        if args.worker == "poller":
            far = datetime.now(UTC) + timedelta(days=1)
            poller = JobPoller(
                query, interval=args.interval, max_interval=max(60, args.interval), jitter=JITTER
            )
            work = poller.run(PollTarget(task_id, far) for task_id in task_ids)
        else:
            cap = 16 if args.worker == "naive+cap" else None
            work = naive(query, task_ids, args.interval, cap)
        running = asyncio.ensure_future(work)
        try:
            await asyncio.sleep(args.warmup * args.interval)
            before = (counts["polls"], time.process_time(), time.perf_counter())
            window_open[0] = True
            await asyncio.sleep(args.window)
            after = (counts["polls"], time.process_time(), time.perf_counter())
            window_open[0] = False
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    polls, cpu, wall = (b - a for a, b in zip(before, after, strict=True))
    mean_gap = gaps["sum"] / gaps["n"] if gaps["n"] else None
    return {"polls": polls, "cpu": cpu, "wall": wall, "errors": counts["errors"],
            "finished": counts["finished"], "mean_gap": mean_gap}  # fmt: skip


def run_worker(
    backend: str, design: str, interval: float, args: argparse.Namespace, info: dict, tasks: Path
) -> dict[str, Any]:
    """One measurement in a fresh process, killed if it overruns."""
    command = [sys.executable, __file__, "--worker", design, "--backend", backend]
    command += ["--interval", str(interval), "--window", str(args.window)]
    command += ["--warmup", str(args.warmup), "--jobs", str(args.jobs), "--tasks", str(tasks)]
    command += ["--base-url", info["base_url"], "--api-key", info["api_key"]]
    limit = args.warmup * interval + args.window + 60
    done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{design} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the table -----------------------------------------------------------------------------------


def report(rows: dict[tuple[str, float, str], list[dict[str, Any]]], jobs: int) -> None:
    runs_per_cell = len(next(iter(rows.values())))
    print(
        f"\n{jobs} pending jobs; medians of {runs_per_cell} run(s) a cell; ratios = design / poller"
        "\n\n| backend | interval | design | target/s | polls/s | CPU %core | CPU us/poll |"
        " CPU share ratio | CPU/poll ratio |\n|---|---:|---|---:|---:|---:|---:|---:|---:|"
    )
    for backend, interval in sorted({key[:2] for key in rows}, key=lambda k: (k[0], -k[1])):
        share: dict[str, float] = {}
        per_poll: dict[str, float] = {}
        for design in DESIGNS:
            runs = rows[(backend, interval, design)]
            share[design] = statistics.median(r["cpu"] / r["wall"] for r in runs)
            per_poll[design] = statistics.median(r["cpu"] / max(r["polls"], 1) for r in runs)
            rate = statistics.median(r["polls"] / r["wall"] for r in runs)
            share_ratio = share[design] / share["poller"]
            poll_ratio = per_poll[design] / per_poll["poller"]
            ratios = f"{share_ratio:.2f} | {poll_ratio:.2f}" if design != "poller" else "1 | 1"
            print(
                f"| {backend} | {interval:g} s | {design} | {jobs / interval:.0f} | {rate:.0f} | "
                f"{100 * share[design]:.1f} | {1e6 * per_poll[design]:.0f} | {ratios} |"
            )
    errors = sum(r["errors"] for runs in rows.values() for r in runs)
    finished = sum(r["finished"] for runs in rows.values() for r in runs)
    print(f"\nquery errors: {errors}; answers not 'queued' (must be 0): {finished}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--intervals", default="5,1", help="Comma-separated poll intervals, s.")
    parser.add_argument("--window", type=float, default=20.0, help="Measured seconds.")
    parser.add_argument("--warmup", type=float, default=1.5, help="Intervals before measuring.")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="emulator,no-http")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="Whole-run bound.")
    parser.add_argument("--worker", choices=DESIGNS, help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    for name in ("--interval", "--tasks", "--base-url", "--api-key"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.interval = float(args.interval)
        print(json.dumps(asyncio.run(measure(args))))
        return 0

    signal.signal(signal.SIGALRM, lambda *_: sys.exit("benchmark: --max-seconds exceeded"))
    signal.alarm(int(args.max_seconds))
    intervals = [float(x) for x in args.intervals.split(",")]
    backends = [b for b in args.backends.split(",") if b]
    workdir = Path(tempfile.mkdtemp(prefix="bench-polling-"))
    emulator = None
    try:
        info = {"base_url": "", "api_key": ""}
        tasks = workdir / "tasks.json"
        if "emulator" in backends:
            emulator, connection = start_emulator(workdir / "emulator.log")
            info = connection["ailabtools"]
            started = time.perf_counter()
            task_ids = asyncio.run(submit_jobs(info["base_url"], info["api_key"], args.jobs))
            print(f"submitted {len(task_ids)} jobs in {time.perf_counter() - started:.1f} s")
            tasks.write_text(json.dumps(task_ids))
        rows: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
        for round_ in range(args.repeat):
            for backend in backends:
                for interval in intervals:
                    order = DESIGNS if round_ % 2 == 0 else DESIGNS[::-1]
                    for design in order:
                        row = run_worker(backend, design, interval, args, info, tasks)
                        rows.setdefault((backend, interval, design), []).append(row)
                        print(
                            f"  {backend} {design} @ {interval:g} s: {json.dumps(row)}", flush=True
                        )
        report(rows, args.jobs)
    finally:
        if emulator is not None:
            stop_emulator(emulator)
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
