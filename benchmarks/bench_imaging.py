"""Benchmark: preparing a 4096x4096 photo and its mask, against the smallest Pillow pipeline.

For each case, ``prepare_pair`` (prepare-image plus prepare-mask) runs against a *baseline*:
the fewest Pillow calls that perform the same conversions (decode, EXIF transpose, ICC
transform, resize, JPEG encode; mask decode, threshold, transpose, resize, PNG encode) and
nothing else: no checks, no hashing, no records. The baseline is given the JPEG quality the
pack ended up choosing, so where the pack had to search for a quality that fits the byte cap
the baseline does not. Both must produce byte-identical image and mask files; the script
stops if they differ, so the comparison is like for like.

Work runs in subprocesses (``python bench_imaging.py --worker ...``), each warmed up on a
128 px copy first (lazy imports are paid once per process in real use). Time: each process
runs the pack and the baseline twice, alternating, and the table reports the median of the
paired ratios (machines here are noisy; pairs close in time see the same load). Memory:
every measured run is a fresh process, and the peak is read from the kernel, which sees
Pillow's C allocations (tracemalloc does not): ``VmHWM`` after the call minus ``VmRSS``
before it, the high-water mark reset through ``/proc/self/clear_refs`` once the inputs are
read (``ru_maxrss`` where that file is not writable).

Targets (from issue 3): time at most 1.3x the baseline; peak memory at most 3x the decoded
image (4096 x 4096 x 3 bytes = 48 MiB; Pillow itself stores RGB in 4 bytes a pixel).

Usage::

    .venv/bin/python benchmarks/bench_imaging.py              # all cases, 5 runs each
    .venv/bin/python benchmarks/bench_imaging.py --repeat 9 --case phone
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageDraw, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parents[1]
SIZE = 4096
DECODED = SIZE * SIZE * 3
TIME_TARGET, MEMORY_TARGET = 1.3, 3.0


@dataclass(frozen=True)
class Case:
    description: str
    target: str
    policy: str = "fail"
    orientation: int = 1  # EXIF orientation of the photo (and the mask is drawn stored)
    p3: bool = False  # embed a Display P3 profile
    grain: float = 0.0  # extra noise blended in: more grain, more JPEG bytes


CASES = {
    "plain": Case("sRGB JPEG, sent as is (volcengine)", "volcengine"),
    "phone": Case("EXIF 6 + Display P3 (volcengine)", "volcengine", orientation=6, p3=True),
    "downscale": Case(
        "4096 -> 4095 px (ailabtools, downscale)", "ailabtools-remove-objects", "downscale"
    ),
    "byte-cap": Case("grainy: 8 MB at q95, fits at q80 (volcengine)", "volcengine", grain=0.12),
}


def _kit():
    """The test suite's input builders (Display P3 profile, photo-like images)."""
    spec = importlib.util.spec_from_file_location("imaging_kit", ROOT / "tests/imaging/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_inputs(case: Case, folder: Path, size: int = SIZE) -> tuple[Path, Path]:
    """Write the case's photo (JPEG q92) and anti-aliased mask (PNG, stored frame)."""
    kit = _kit()
    photo = kit.photo((size, size), seed=7)
    if case.grain:
        photo = Image.blend(photo, Image.effect_noise((size, size), 64).convert("RGB"), case.grain)
    params = {"quality": 92}
    if case.orientation != 1:
        params["exif"] = kit.exif_orientation(case.orientation)
    if case.p3:
        params["icc_profile"] = kit.display_p3_icc()
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse([v * size // SIZE for v in (1200, 1500, 2300, 2900)], fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(3))
    photo_path, mask_path = folder / f"photo-{size}.jpg", folder / f"mask-{size}.png"
    photo.save(photo_path, "JPEG", **params)
    mask.save(mask_path, "PNG")
    return photo_path, mask_path


def ours(case: Case, photo: bytes, mask: bytes, quality: int) -> tuple[bytes, bytes, int | None]:
    from prefect_image_edit.imaging import prepare_pair

    image, prepared_mask = prepare_pair(photo, mask, target=case.target, policy=case.policy)
    return image.data, prepared_mask.data, image.quality


def baseline(case: Case, photo: bytes, mask: bytes, quality: int) -> tuple[bytes, bytes, int]:
    im = Image.open(io.BytesIO(photo))
    im.load()
    icc = im.info.get("icc_profile")
    if case.orientation != 1:
        im = ImageOps.exif_transpose(im)
    if icc:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        intent = ImageCms.Intent.RELATIVE_COLORIMETRIC
        transform = ImageCms.buildTransform(source, srgb, "RGB", "RGB", renderingIntent=intent)
        ImageCms.applyTransform(im, transform, inPlace=True)
    m = Image.open(io.BytesIO(mask)).point([0] * 128 + [255] * 128)
    if case.orientation != 1:
        m = m.transpose(Image.Transpose.ROTATE_270)
    if case.policy == "downscale" and im.width > 4095:
        im = im.resize((4095, 4095), Image.Resampling.LANCZOS)
        m = m.resize((4095, 4095), Image.Resampling.BOX).point([0] + [255] * 255)
    out, mask_out = io.BytesIO(), io.BytesIO()
    im.save(out, "JPEG", quality=quality, icc_profile=None, exif=b"")
    m.save(mask_out, "PNG")
    return out.getvalue(), mask_out.getvalue(), quality


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _read(folder: str, size: int) -> tuple[bytes, bytes]:
    return (
        (Path(folder) / f"photo-{size}.jpg").read_bytes(),
        (Path(folder) / f"mask-{size}.png").read_bytes(),
    )


def _digest(image: bytes, mask: bytes) -> str:
    return hashlib.sha256(image + b"|" + mask).hexdigest()


def time_worker(case_name: str, folder: str, quality: int, pairs: int) -> None:
    """Time the pack and the baseline in one process, alternating; print a JSON line.

    Both are warmed up first on a small copy: lazy imports and first-call set-up are paid
    once per process in real use. Alternating within a process keeps each pair of runs close
    in time, so a load spike from elsewhere on the machine hits both sides alike.
    """
    case = CASES[case_name]
    sides = {"ours": ours, "baseline": baseline}
    for run in sides.values():
        run(case, *_read(folder, 128), quality)
    photo, mask = _read(folder, SIZE)
    seconds: dict[str, list[float]] = {"ours": [], "baseline": []}
    digests = set()
    for index in range(pairs):
        for kind in ("ours", "baseline") if index % 2 == 0 else ("baseline", "ours"):
            gc.collect()
            start = time.perf_counter()
            image, mask_png, _ = sides[kind](case, photo, mask, quality)
            seconds[kind].append(time.perf_counter() - start)
            digests.add(_digest(image, mask_png))
            del image, mask_png
    print(json.dumps({"seconds": seconds, "identical": len(digests) == 1}))


def memory_worker(kind: str, case_name: str, folder: str, quality: int) -> None:
    """Measure one run's peak memory in this fresh process; print a JSON line."""
    case = CASES[case_name]
    run = ours if kind == "ours" else baseline
    run(case, *_read(folder, 128), quality)  # warm-up: small, so the peak is unaffected
    photo, mask = _read(folder, SIZE)
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        method = "VmHWM"
    except OSError:
        method = "ru_maxrss"
    before = _status("VmRSS")
    image, mask_png, used = run(case, photo, mask, quality)
    if method == "VmHWM":
        peak = _status("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {
        "peak": max(0, peak - before),
        "method": method,
        "quality": used,
        "digest": _digest(image, mask_png),
    }
    print(json.dumps(result))


# glibc keeps freed blocks of up to 32 MB on its heap once it has seen them freed (a dynamic
# mmap threshold), so RSS also counts memory the pipeline already gave back. Runs with a
# fixed threshold return every Pillow block to the kernel on free: their RSS is live memory.
_LIVE = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def _spawn(*args: object, live: bool = False) -> dict:
    argv = [sys.executable, __file__, "--worker", *map(str, args)]
    env = {**os.environ, **_LIVE} if live else None
    done = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(name: str, repeat: int, folder: Path) -> dict:
    case = CASES[name]
    make_inputs(case, folder, 128)
    make_inputs(case, folder)
    probe = _spawn("memory", "ours", name, folder, 95)  # the quality the pack settles on
    quality = probe["quality"]
    ratios, seconds = [], {"ours": [], "baseline": []}
    peaks: dict[str, list[int]] = {"ours": [], "baseline": [], "ours-live": [], "baseline-live": []}
    digests = set()
    for _ in range(repeat):
        timed = _spawn("time", name, folder, quality, 2)
        if not timed["identical"]:
            raise SystemExit(f"{name}: the baseline's output differs from the pack's")
        for kind in seconds:
            seconds[kind].extend(timed["seconds"][kind])
        ratios.extend(
            o / b
            for o, b in zip(timed["seconds"]["ours"], timed["seconds"]["baseline"], strict=True)
        )
        for kind in ("ours", "baseline"):
            for live in (False, True):
                run = _spawn("memory", kind, name, folder, quality, live=live)
                peaks[kind + ("-live" if live else "")].append(run["peak"])
                digests.add(run["digest"])
    if len(digests) != 1:
        raise SystemExit(f"{name}: the baseline's output differs from the pack's")
    return {
        "case": name,
        "description": case.description,
        "quality": quality,
        "method": probe["method"],
        "ours_s": statistics.median(seconds["ours"]),
        "base_s": statistics.median(seconds["baseline"]),
        "ratio": statistics.median(ratios),
        **{key.replace("-", "_"): statistics.median(values) for key, values in peaks.items()},
    }


def _table(rows: list[dict], repeat: int) -> str:
    mib = 1024 * 1024
    head = (
        f"{'case':<10} {'q':>3} {'pack s':>7} {'base s':>7} {'time x':>6} | {'live MiB':>8} "
        f"{'base':>6} {'x':>5} {'/decoded':>8} | {'rss MiB':>7} {'base':>6} {'/decoded':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['case']:<10} {r['quality'] or '-':>3} {r['ours_s']:>7.3f} {r['base_s']:>7.3f} "
            f"{r['ratio']:>6.2f} | {r['ours_live'] / mib:>8.1f} "
            f"{r['baseline_live'] / mib:>6.1f} {r['ours_live'] / max(r['baseline_live'], 1):>5.2f} "
            f"{r['ours_live'] / DECODED:>8.2f} | {r['ours'] / mib:>7.1f} "
            f"{r['baseline'] / mib:>6.1f} {r['ours'] / DECODED:>8.2f}"
        )
    lines.append("")
    lines.extend(f"{r['case']:<10} {r['description']}" for r in rows)
    lines.append("")
    lines.append(
        f"Time: medians of {2 * repeat} runs per side in {repeat} processes, pack and baseline "
        f"alternating; 'time x' is the median of the paired ratios. Memory: medians of {repeat} "
        f"fresh processes per side; peak = {rows[0]['method']} minus RSS before the call; "
        f"'live' runs use a fixed malloc mmap threshold (RSS = live memory), 'rss' runs the "
        f"default allocator. Decoded image = 4096 x 4096 x 3 B = "
        f"{DECODED / mib:.0f} MiB (Pillow stores it in 64 MiB). Targets: time x <= "
        f"{TIME_TARGET}, live peak / decoded <= {MEMORY_TARGET}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per side and case (default 5)")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="run only these")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, *rest = args.worker
        if mode == "time":
            name, folder, quality, pairs = rest
            time_worker(name, folder, int(quality), int(pairs))
        else:
            kind, name, folder, quality = rest
            memory_worker(kind, name, folder, int(quality))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-imaging-") as tmp:
        for name in args.case or list(CASES):
            folder = Path(tmp) / name
            folder.mkdir()
            rows.append(measure(name, args.repeat, folder))
            print(f"measured {name}", file=sys.stderr)
    print(_table(rows, args.repeat))
    over = [
        r["case"]
        for r in rows
        if r["ratio"] > TIME_TARGET or r["ours_live"] / DECODED > MEMORY_TARGET
    ]
    print(f"over target: {', '.join(over)}" if over else "every case within target")


if __name__ == "__main__":
    main()
