"""The figures of issue 10, each a function ``(harness, sizes) -> list[Row]``.

Each drives the pack only through public entry points (the ``batch-erase`` flow in a runner
subprocess, the archive API, the CLI) and measures the plain-script baseline in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import prefect_image_edit
from prefect_image_edit.bench.harness import BUCKET, Harness, log, run_json
from prefect_image_edit.bench.proxy import CountingProxy, run_proxy, s3_shape
from prefect_image_edit.bench.report import Row, Target, info
from prefect_image_edit.bench.servers import base_environment, stop_process

__all__ = ["FIGURES", "QUICK", "Sizes"]


@dataclass(frozen=True)
class Sizes:
    """How big each figure is. ``--quick`` uses :data:`QUICK`; tests override single fields."""

    batch_n: int = 500
    count_n: int = 100
    scale_n: int = 200
    concurrency: int = 8
    scale_concurrency: int = 16
    latency: float = 0.5
    batch_rounds: int = 2
    """Rounds of figure (1), each on new photos, ordered script, pack, pack, script... so a
    drift in the machine's load weighs on both sides alike."""
    floor_latency: float = 2.0
    archive_mb: int = 50
    archive_reps: int = 5
    """Runs of each side: one upload varies by +-30 % on a shared 2-core machine."""
    polling_jobs: int = 1000
    polling_interval: float = 5.0
    polling_window: float = 20.0

    def override(self, text: str) -> Sizes:
        """``"batch_n=4,archive_mb=2"`` -> a copy with those fields changed."""
        types = {f.name: f.type for f in fields(self)}
        changes: dict[str, float | int] = {}
        for pair in filter(None, text.split(",")):
            key, _, value = pair.partition("=")
            if key not in types:
                raise ValueError(f"unknown size {key!r}; known: {', '.join(types)}")
            changes[key] = int(value) if types[key] in ("int", int) else float(value)
        return replace(self, **changes)


QUICK = Sizes(batch_n=100, count_n=40, scale_n=48, archive_reps=5, polling_window=10.0)


def _bound(items: int, latency: float, concurrency: int) -> float:
    """A generous time bound for one batch: 10x today's pack, never under 5 minutes."""
    return max(300.0, 10 * (math.ceil(items / concurrency) * latency + items * 0.6))


def _failures(result: dict) -> str:
    if not result.get("failed"):
        return ""
    return f"{result['failed']} of {result['items']} items failed: {'; '.join(result['errors'])}"


def _pooled(rounds: list[dict]) -> dict:
    """Several rounds of one side as one: mean seconds and successes per round (their ratio
    is the throughput of all rounds together), items and failures summed, errors kept."""
    pooled = {**rounds[-1], "errors": sorted({e for r in rounds for e in r.get("errors", [])})}
    for key in ("seconds", "done", "succeeded"):
        if key in pooled:
            pooled[key] = sum(r[key] for r in rounds) / len(rounds)
    for key in ("items", "failed"):
        if key in pooled:
            pooled[key] = sum(r[key] for r in rounds)
    return pooled


# -- (1) batch throughput vs the plain script --------------------------------------------------
def batch_throughput(h: Harness, s: Sizes) -> list[Row]:
    n, c, latency = s.batch_n, s.concurrency, s.latency
    h.tencent(latency=latency, concurrency=c)
    h.setup_pack(c)
    scripts, packs = [], []
    for round_ in range(max(1, s.batch_rounds)):
        photos = h.photos(n)
        prefix = f"script/{photos.root.name}"
        for side in ("script", "pack") if round_ % 2 == 0 else ("pack", "script"):
            if side == "script":
                scripts.append(h.run_baseline(photos, c, prefix=prefix))
            else:
                packs.append(h.run_runner(h.batch_spec(photos, c), timeout=_bound(n, latency, c)))
        if round_ == 0:
            h.memo["finished"] = (photos, prefix)
    script, pack = _pooled(scripts), _pooled(packs)
    pack_tp, script_tp = pack["succeeded"] / pack["seconds"], script["done"] / script["seconds"]
    floor = math.ceil(n / c) * latency
    label = f"(1) batch N={n} C={c} L={latency:g}s: throughput pack / script"
    return [
        Row(
            name="batch.throughput_ratio",
            value=pack_tp / script_tp,
            unit="x",
            target=target("batch.throughput_ratio"),
            figure=label,
            pack=f"{pack['seconds']:.1f} s ({pack_tp:.1f}/s, {pack['seconds'] / floor:.1f}x floor)",
            baseline=f"{script['seconds']:.1f} s ({script_tp:.1f}/s, "
            f"{script['seconds'] / floor:.1f}x floor)",
            note=_failures(pack),
        ),
        info("batch.pack_seconds", pack["seconds"], "s"),
        info("batch.script_seconds", script["seconds"], "s"),
        info("batch.pack_items_per_s", pack_tp, "items/s"),
        info("batch.script_items_per_s", script_tp, "items/s"),
        info("batch.floor_seconds", floor, "s"),
    ]


# -- (2) wall vs the physical floor at L=2 s ---------------------------------------------------
def batch_floor(h: Harness, s: Sizes) -> list[Row]:
    n, c, latency = s.batch_n, s.concurrency, s.floor_latency
    h.tencent(latency=latency, concurrency=c)
    h.setup_pack(c)
    photos = h.photos(n)
    pack = h.run_runner(h.batch_spec(photos, c), timeout=_bound(n, latency, c))
    floor = math.ceil(n / c) * latency
    return [
        Row(
            name="floor.wall_over_floor",
            value=pack["seconds"] / floor,
            unit="x",
            target=target("floor.wall_over_floor"),
            figure=f"(2) batch N={n} C={c} L={latency:g}s: wall / floor ceil(N/C)*L",
            pack=f"{pack['seconds']:.1f} s",
            baseline=f"floor {floor:.1f} s",
            note=_failures(pack),
        ),
        info("floor.pack_seconds", pack["seconds"], "s"),
        info("floor.floor_seconds", floor, "s"),
    ]


# -- (3) re-run of a finished batch ------------------------------------------------------------
def rerun(h: Harness, s: Sizes) -> list[Row]:
    c = s.concurrency
    h.tencent(latency=s.latency, concurrency=c)
    h.setup_pack(c)
    if "finished" not in h.memo:  # run alone (--only rerun): finish a batch first, unmeasured
        photos = h.photos(s.batch_n)
        prefix = f"script/{photos.root.name}"
        h.run_baseline(photos, c, prefix=prefix)
        h.run_runner(h.batch_spec(photos, c), timeout=_bound(s.batch_n, s.latency, c))
        h.memo["finished"] = (photos, prefix)
    photos, prefix = h.memo["finished"]
    n = len(photos)
    before = h.billable()
    script = h.run_baseline(photos, c, prefix=prefix)
    script_calls = h.billable() - before
    before = h.billable()
    pack = h.run_runner(h.batch_spec(photos, c), timeout=_bound(n, s.latency, c))
    pack_calls = h.billable() - before
    pack_ms, script_ms = 1000 * pack["seconds"] / n, 1000 * script["seconds"] / n
    label = f"(3) re-run of the finished batch (N={n})"
    return [
        Row(
            name="rerun.ms_per_item",
            value=pack_ms,
            unit="ms/item",
            target=target("rerun.ms_per_item"),
            figure=f"{label}: time per item",
            pack=f"{pack_ms:.1f} ms/item",
            baseline=f"{script_ms:.1f} ms/item (HEAD, skip)",
            note=_failures(pack),
        ),
        Row(
            name="rerun.vendor_calls",
            value=float(pack_calls),
            unit="calls",
            target=target("rerun.vendor_calls"),
            figure=f"{label}: vendor calls",
            pack=str(pack_calls),
            baseline=str(script_calls),
        ),
        info("rerun.script_ms_per_item", script_ms, "ms/item"),
        info("rerun.ratio_pack_over_script", pack_ms / script_ms, "x"),
    ]


# -- (4) API and S3 requests per item ----------------------------------------------------------
def requests_per_item(h: Harness, s: Sizes) -> list[Row]:
    n, c = s.count_n, s.concurrency
    h.tencent(latency=s.latency, concurrency=c)
    api = CountingProxy(h.prefect.url)
    store = CountingProxy(h.s3.endpoint_url, shape=s3_shape)
    with run_proxy(api) as api_url, run_proxy(store) as s3_url:
        h.setup_pack(c, archives={"bench-counted": s3_url})
        photos = h.photos(n)
        api.reset()
        store.reset()
        pack = h.run_runner(
            h.batch_spec(photos, c, archive="bench-counted"),
            timeout=_bound(n, s.latency, c),
            env=h.pack_env(api_url=f"{api_url}/api"),
        )
        api_n, sockets = api.total(), api.websockets
        api_top, s3_top = api.breakdown()[:5], store.breakdown()
        s3_run = sum(count for shape, count in s3_top if "<per run>" in shape)
        s3_n = store.total() - s3_run
    log(f"Prefect API requests for {n} items: {api_top}; websockets: {sockets}")
    log(f"S3 requests for {n} items: {s3_top}")
    label = f"(4) first run, per item (N={n})"

    def top(items: list[tuple[str, int]]) -> str:
        return ", ".join(f"{k} {v / n:.2g}" for k, v in items[:4])

    return [
        Row(
            name="requests.prefect_api_per_item",
            value=api_n / n,
            unit="requests/item",
            target=target("requests.prefect_api_per_item"),
            figure=f"{label}: Prefect API requests (no event websockets)",
            pack=f"{api_n} for {n} items",
            note=f"per item: {top(api_top)}; {sockets} websocket(s) not counted"
            + (f"; {_failures(pack)}" if pack.get("failed") else ""),
        ),
        Row(
            name="requests.s3_per_item",
            value=s3_n / n,
            unit="requests/item",
            target=target("requests.s3_per_item"),
            figure=f"{label}: S3 requests",
            pack=f"{s3_n} for {n} items (+{s3_run} per run)",
            baseline="1 PUT + 1 HEAD (script)",
            note=f"per item: {top(s3_top)} (the per-run one is the results manifest: 1 per "
            "batch, however many items)",
        ),
        info("requests.event_websockets", float(sockets), "connections"),
    ]


# -- (5) archiving a large result --------------------------------------------------------------
def archive_large(h: Harness, s: Sizes) -> list[Row]:
    size = s.archive_mb * 1024 * 1024
    env = h.s3_env()
    results: dict[str, list[dict]] = {"pack": [], "boto3": []}
    command = [sys.executable, "-m", "prefect_image_edit.bench.archive_side"]

    def fresh_file(name: str) -> Path:
        path = h.workdir / name
        with path.open("wb") as handle:  # fresh bytes: content-addressed keys never repeat
            for _ in range(s.archive_mb):
                handle.write(os.urandom(1024 * 1024))
        return path

    # The first large upload to a freshly started SeaweedFS also allocates its volumes, and
    # takes 2-3x as long whoever sends it: one untimed upload first, so that neither side's
    # first sample (the pack's, in this order) is measured against a cold store.
    warm = fresh_file("large-warm-up.bin")
    run_json([*command, "boto3", str(warm), BUCKET], env=env, timeout=300)
    warm.unlink()
    for rep in range(s.archive_reps):
        for side in ("pack", "boto3") if rep % 2 == 0 else ("boto3", "pack"):
            path = fresh_file(f"large-{rep}-{side}.bin")
            results[side].append(
                run_json([*command, side, str(path), BUCKET], env=env, timeout=300)
            )
            path.unlink()

    def throughput(side: str) -> float:
        return statistics.median(size / r["seconds"] / 1e6 for r in results[side])

    def peak(side: str) -> float | None:
        values = [r["extra_peak_mib"] for r in results[side] if r["extra_peak_mib"] is not None]
        return max(values) if values else None

    pack_tp, boto_tp = throughput("pack"), throughput("boto3")
    pack_peak, boto_peak = peak("pack"), peak("boto3")
    label = f"(5) archive a {s.archive_mb} MB result (median of {s.archive_reps})"
    return [
        Row(
            name="archive.throughput_ratio",
            value=pack_tp / boto_tp,
            unit="x",
            target=target("archive.throughput_ratio"),
            figure=f"{label}: throughput pack / boto3 upload_file",
            pack=f"{pack_tp:.0f} MB/s",
            baseline=f"{boto_tp:.0f} MB/s",
        ),
        Row(
            name="archive.extra_peak_mib",
            value=pack_peak,
            unit="MiB",
            target=target("archive.extra_peak_mib"),
            figure=f"{label}: extra peak memory",
            pack=f"+{pack_peak:.1f} MiB" if pack_peak is not None else "n/a",
            baseline=f"+{boto_peak:.1f} MiB" if boto_peak is not None else "n/a",
            note="" if pack_peak is not None else "/proc/self/clear_refs not writable",
        ),
        info("archive.boto3_extra_peak_mib", boto_peak, "MiB"),
        info("archive.pack_mb_per_s", pack_tp, "MB/s"),
        info("archive.boto3_mb_per_s", boto_tp, "MB/s"),
    ]


# -- (6) one erase from a cold shell -----------------------------------------------------------
def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("prefect-image-edit")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from prefect_image_edit.cli import main; "
            "sys.exit(main())"]  # fmt: skip


def _descendants(pid: int) -> list[str]:
    """Command lines of every live descendant of ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        for child in children:
            try:
                cmdline = (Path("/proc") / str(child) / "cmdline").read_text()
                found.append(cmdline.replace("\0", " "))
            except OSError:
                continue
        frontier = children
    return found


def _timed_cli(args: list[str], env: dict[str, str], timeout: float = 180.0) -> tuple[float, bool]:
    """Seconds for one CLI run, and whether a Prefect server process appeared under it."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*_cli_command(), *args], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    server_seen = False
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"erase did not finish in {timeout} s")
            if not server_seen:
                server_seen = any(
                    "uvicorn" in cmd or "prefect.server" in cmd or "server start" in cmd
                    for cmd in _descendants(process.pid)
                )
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"erase exited with {process.returncode}: {process.stderr.read()}")
        return seconds, server_seen
    finally:
        stop_process(process)
        process.stderr.close()


# What a user would otherwise write: OpenCV's inpainting on the same box, nothing else.
CV2_SCRIPT = """
import sys, cv2, numpy
image = cv2.imread(sys.argv[1])
mask = numpy.zeros(image.shape[:2], numpy.uint8)
mask[160:320, 240:400] = 255
cv2.imwrite(sys.argv[2], cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA))
"""


def _timed_cv2(photo: Path, out: Path) -> float | None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CV2_SCRIPT, str(photo), str(out)],
        capture_output=True, timeout=120, check=False, env=base_environment(),
    )  # fmt: skip
    return time.perf_counter() - started if done.returncode == 0 else None


def cli_cold(h: Harness, s: Sizes) -> list[Row]:
    photo = h.photos(1).image_paths()[0]
    out = h.workdir / "cli-out"
    out.mkdir()
    script = _timed_cv2(photo, out / "cv2.png")
    args = ["erase", str(photo), "--box", "240,160,400,320", "--provider", "local"]
    with tempfile.TemporaryDirectory(prefix="pie-bench-cli-") as home:
        env = base_environment()
        env.update(PREFECT_HOME=home, PREFECT_IMAGE_EDIT_HOME=os.path.join(home, "ie"))
        fresh, fresh_server = _timed_cli([*args, "--out", str(out / "a.png")], env)
        # The median of three: one cold start varies by a third on a busy 2-core machine.
        runs = [_timed_cli([*args, "--out", str(out / f"b{i}.png")], env) for i in range(3)]
        warm = statistics.median(seconds for seconds, _ in runs)
        warm_server = any(started for _, started in runs)
    with tempfile.TemporaryDirectory(prefix="pie-bench-cli-") as home:
        env = h.pack_env()
        env.update(PREFECT_HOME=home, PREFECT_IMAGE_EDIT_HOME=os.path.join(home, "ie"))
        env.pop("PREFECT_LOGGING_LEVEL")
        with_api, api_server = _timed_cli([*args, "--out", str(out / "c.png")], env)
    return [
        Row(
            name="cli.cold_seconds",
            value=warm,
            unit="s",
            target=target("cli.cold_seconds"),
            figure="(6) `erase --provider local` from a cold shell, no server configured",
            pack=f"{warm:.2f} s ({fresh:.2f} s on a fresh home)",
            baseline=f"{script:.2f} s (cv2.inpaint script)" if script else "n/a (no cv2)",
            note="ephemeral Prefect server started" if warm_server or fresh_server else "",
        ),
        Row(
            name="cli.ephemeral_server_with_api_url",
            value=1.0 if api_server else 0.0,
            unit="started",
            target=target("cli.ephemeral_server_with_api_url"),
            figure="(6) the same with PREFECT_API_URL set: ephemeral server started (1/0)",
            pack=f"{'yes' if api_server else 'no'}, {with_api:.2f} s",
        ),
        info("cli.fresh_home_seconds", fresh, "s"),
        info("cli.cv2_script_seconds", script, "s"),
        info("cli.with_api_url_seconds", with_api, "s"),
        info("cli.ephemeral_server_without_api_url", 1.0 if warm_server else 0.0, "started"),
    ]


# -- (7) polling 1,000 pending jobs (benchmarks/bench_polling.py) ------------------------------
def _polling_module():
    path = Path(prefect_image_edit.__file__).parent / "benchmarks" / "bench_polling.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not there (a source checkout is needed)")
    spec = importlib.util.spec_from_file_location("pie_bench_polling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def polling(h: Harness, s: Sizes) -> list[Row]:
    bench = _polling_module()
    logfile = h.workdir / "polling-emulator.log"
    emulator, connection = bench.start_emulator(logfile)
    try:
        ep = connection["ailabtools"]
        task_ids = asyncio.run(bench.submit_jobs(ep["base_url"], ep["api_key"], s.polling_jobs))
        tasks = h.workdir / "polling-tasks.json"
        tasks.write_text(__import__("json").dumps(task_ids))
        args = argparse.Namespace(window=s.polling_window, warmup=1.5, jobs=s.polling_jobs)
        row = bench.run_worker("emulator", "poller", s.polling_interval, args, ep, tasks)
    finally:
        bench.stop_emulator(emulator)
    # The window opens after 1.5 intervals of warm-up, when the first polls (spread over the
    # first interval) are over: a job asked exactly every interval sends wall / interval polls
    # in it, so this is the ideal. Counting the first round as well (jobs * (floor(wall /
    # interval) + 1)) would only be right for a window that starts with the run.
    ideal = s.polling_jobs * row["wall"] / s.polling_interval
    notes = [f"mean gap between polls of a job {row['mean_gap']:.3f} s"] if row["mean_gap"] else []
    notes += [f"{row['errors']} query errors"] if row["errors"] else []
    cpu = 100 * row["cpu"] / row["wall"]
    label = f"(7) {s.polling_jobs} pending try-on jobs, poll every {s.polling_interval:g} s"
    return [
        Row(
            name="polling.polls_over_ideal",
            value=row["polls"] / ideal,
            unit="x",
            target=target("polling.polls_over_ideal"),
            figure=f"{label}: polls / ideal",
            pack=f"{row['polls']} polls in {row['wall']:.1f} s",
            baseline=f"ideal {ideal:.0f}",
            note="; ".join(notes),
        ),
        Row(
            name="polling.cpu_percent_core",
            value=cpu,
            unit="% core",
            target=target("polling.cpu_percent_core"),
            figure=f"{label}: CPU",
            pack=f"{row['cpu']:.2f} s CPU",
        ),
    ]


# -- (8) scale-out: two flow processes on one server -------------------------------------------
def scale_out(h: Harness, s: Sizes) -> list[Row]:
    n, c = s.scale_n, s.scale_concurrency
    h.tencent(latency=s.latency, concurrency=c)
    h.setup_pack(c)
    bound = _bound(n, s.latency, c)
    one = h.run_runner(h.batch_spec(h.photos(n), c), timeout=bound)
    halves = h.split(h.photos(n), 2)
    two = h.run_runners([h.batch_spec(part, c) for part in halves], timeout=bound)
    wall = max(r["ended_at"] for r in two) - min(r["started_at"] for r in two)
    tp1 = one["succeeded"] / one["seconds"]
    tp2 = sum(r["succeeded"] for r in two) / wall
    failures = "; ".join(filter(None, [_failures(one), *(_failures(r) for r in two)]))
    return [
        Row(
            name="scaleout.two_over_one",
            value=tp2 / tp1,
            unit="x",
            figure=f"(8) scale-out N={n} C={c} L={s.latency:g}s: 2 processes / 1 process",
            pack=f"2 proc {wall:.1f} s ({tp2:.1f}/s)",
            baseline=f"1 proc {one['seconds']:.1f} s ({tp1:.1f}/s)",
            note=failures,
        ),
        info("scaleout.one_process_items_per_s", tp1, "items/s"),
        info("scaleout.two_process_items_per_s", tp2, "items/s"),
        info("scaleout.max_in_flight", float(h.emu.counters.max_in_flight("tencent")), "calls"),
    ]


# Run order: (3) reuses (1)'s finished batch.
FIGURES: dict[str, Callable[[Harness, Sizes], list[Row]]] = {
    "batch": batch_throughput,
    "rerun": rerun,
    "floor": batch_floor,
    "requests": requests_per_item,
    "scaleout": scale_out,
    "archive": archive_large,
    "cli": cli_cold,
    "polling": polling,
}
# The judged values of each figure, listed (as not measured) when a figure fails, so a
# missing figure can never pass for a met target: name -> (unit, target, title).
_T = Target
TARGETS: dict[str, dict[str, tuple[str, Target | None, str]]] = {
    "batch": {"batch.throughput_ratio": ("x", _T(">=", 1.0), "(1) batch: pack / script")},
    "floor": {"floor.wall_over_floor": ("x", _T("<=", 1.15), "(2) batch at L=2 s: wall / floor")},
    "rerun": {
        "rerun.ms_per_item": ("ms/item", _T("<=", 10.0), "(3) re-run: time per item"),
        "rerun.vendor_calls": ("calls", _T("==", 0), "(3) re-run: vendor calls"),
    },
    "requests": {
        "requests.prefect_api_per_item": ("requests/item", _T("<=", 2.0), "(4) API requests"),
        "requests.s3_per_item": ("requests/item", _T("<=", 2.0), "(4) S3 requests"),
    },
    "archive": {
        "archive.throughput_ratio": ("x", _T(">=", 0.9), "(5) archive: throughput / boto3"),
        "archive.extra_peak_mib": ("MiB", _T("<=", 16.0), "(5) archive: extra peak memory"),
    },
    "cli": {
        "cli.cold_seconds": ("s", _T("<=", 2.0), "(6) CLI from a cold shell"),
        "cli.ephemeral_server_with_api_url": ("started", _T("==", 0), "(6) ephemeral server"),
    },
    "polling": {
        "polling.polls_over_ideal": ("x", _T("<=", 1.0), "(7) polling: polls / ideal"),
        "polling.cpu_percent_core": ("% core", _T("<", 25.0), "(7) polling: CPU"),
    },
    "scaleout": {"scaleout.two_over_one": ("x", None, "(8) scale-out: 2 processes / 1")},
}


def target(name: str) -> Target | None:
    """The target of a judged value (one table for the figures and the failure rows)."""
    for metrics in TARGETS.values():
        if name in metrics:
            return metrics[name][1]
    raise KeyError(name)


# Table order: the numbering.
TABLE_ORDER = ["batch", "floor", "rerun", "requests", "archive", "cli", "polling", "scaleout"]
