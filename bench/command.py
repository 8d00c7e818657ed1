"""``prefect-image-edit bench``: measure the pack against a plain SDK script (issue 10).

Starts what it needs (the vendor emulators, SeaweedFS, a real ``prefect server start``), runs
each figure, stops everything (also on Ctrl-C or an error), and prints a markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import time
import traceback

from prefect_image_edit.bench.figures import FIGURES, QUICK, TABLE_ORDER, TARGETS, Sizes
from prefect_image_edit.bench.harness import Harness, log
from prefect_image_edit.bench.report import Row, markdown_table, not_measured, write_json

__all__ = ["build_parser", "main"]

SDK_HINT = (
    "bench: the plain-script baseline needs the official Tencent SDK: "
    "pip install 'prefect-image-edit[bench]'"
)
NEEDS_SDK = {"batch", "rerun"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prefect-image-edit bench",
        description="Measure the pack against a plain official-SDK script (issue 10).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="Reduced sizes (N=100): a few minutes."
    )
    parser.add_argument("--json", metavar="FILE", help="Also write every value as JSON.")
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        help=f"Run only these figures: {', '.join(TABLE_ORDER)}.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the work folder (logs).")
    parser.add_argument("--sizes", default="", help=argparse.SUPPRESS)  # tests: batch_n=4,...
    return parser


def _selected(parser: argparse.ArgumentParser, only: str | None) -> list[str]:
    if not only:
        return list(FIGURES)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        parser.error(
            f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(TABLE_ORDER)}"
        )
    return [name for name in FIGURES if name in names]  # run order, not the order given


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names = _selected(parser, args.only)
    if NEEDS_SDK & set(names) and importlib.util.find_spec("tencentcloud") is None:
        print(SDK_HINT, file=sys.stderr)
        return 2
    sizes = (QUICK if args.quick else Sizes()).override(args.sizes)
    # Ctrl-C, kill and a closed terminal all stop every server (even where SIGINT was ignored)
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, _terminate) for signum in stops}
    rows: dict[str, list[Row]] = {}
    started = time.perf_counter()
    try:
        with Harness(keep=args.keep) as harness:
            if args.keep:
                log(f"work folder: {harness.workdir}")
            for name in names:
                log(f"figure {name}...")
                figure_started = time.perf_counter()
                try:
                    rows[name] = FIGURES[name](harness, sizes)
                except Exception as error:  # one broken figure never hides the others
                    traceback.print_exc(file=sys.stderr)
                    first = (str(error).strip().splitlines() or [""])[0]
                    reason = f"{type(error).__name__}: {first}"
                    rows[name] = [
                        not_measured(metric, title, unit, target, reason)
                        for metric, (unit, target, title) in TARGETS[name].items()
                    ]
                log(f"figure {name} took {time.perf_counter() - figure_started:.0f} s")
    except KeyboardInterrupt:
        log("interrupted; every server was stopped")
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    ordered = [row for name in TABLE_ORDER for row in rows.get(name, [])]
    print(markdown_table(ordered))
    print(f"\n{'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.0f} s")
    if args.json:
        write_json(ordered, args.json)
    return 0
