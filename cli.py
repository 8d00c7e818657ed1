"""The ``prefect-image-edit`` command line: ``demo``, ``erase`` and ``emulate``.

Prefect is imported only inside the commands, after the logging settings are chosen, so that
a command prints one clean line per result (or one line per error) instead of engine logs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from prefect_image_edit import __version__
from prefect_image_edit.vendors.registry import erase_providers, names

PROVIDERS = erase_providers()


def _demo(args: argparse.Namespace) -> int:
    from prefect_image_edit.demo import run_demo

    return run_demo(args.output)


def _serve(args: argparse.Namespace) -> int:
    from prefect_image_edit.deployments.serve import main as serve

    serve(args.serve_args)
    return 0


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        left, top, right, bottom = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LEFT,TOP,RIGHT,BOTTOM in px, got {text!r}"
        ) from None
    return left, top, right, bottom


def _erase(args: argparse.Namespace) -> int:
    if not args.verbose:  # one line per result or error; the engine's logs only on request
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from pydantic import ValidationError

    from prefect_image_edit.errors import ImageEditError
    from prefect_image_edit.flows.erase import erase
    from prefect_image_edit.flows.models import Connections, OutputOptions
    from prefect_image_edit.tasks.models import EraseSettings, MaskOptions

    image = Path(args.image)
    out = Path(args.out) if args.out else Path(f"{image.stem}-erased.png")
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(out.suffix.lower(), "PNG")
    try:
        mask = MaskOptions(mask=args.mask, boxes=args.box or [], from_alpha=args.from_alpha)
        connections = Connections(
            **{
                vendor: getattr(args, f"{vendor}_credentials")
                for vendor in names()
                if vendor in Connections.model_fields
            },
            other_credentials={
                vendor: block
                for vendor in names()
                if vendor not in Connections.model_fields
                and (block := getattr(args, f"{vendor}_credentials"))
            },
            archive=args.archive,
        )
        settings = EraseSettings(seed=args.seed)
    except ValidationError as error:
        return _fail(error.errors()[0]["msg"].removeprefix("Value error, "), code=2)
    try:
        outcome = asyncio.run(
            erase(
                str(image),
                mask,
                args.provider,
                fallback=args.fallback or None,
                settings=settings,
                policy=args.policy,
                output=OutputOptions(format=fmt, path=str(out)),
                connections=connections,
                dry_run=args.dry_run,
            )
        )
    except ImageEditError as error:
        return _fail(str(error), code=2 if isinstance(error, ValueError) else 1)
    finally:
        if not args.verbose:  # Prefect's exit-time "still sending events" notes, too
            logging.disable(logging.WARNING)
    if args.dry_run:
        return _print_dry_run(outcome)
    variant = outcome.variants[0]
    print(f"{variant.final.written_to} ({outcome.provider}; archived {variant.final.archived.uri})")
    return 0


def _print_dry_run(report) -> int:
    """The dry run's table (issue 11): one line per item, then the totals; 1 if any would fail."""
    for row in report.table():
        print("  ".join(f"{name}={value}" for name, value in row.items() if value))
    print(report.summary())
    return 1 if report.errors else 0


def _bench(argv: list[str]) -> int:
    from prefect_image_edit.bench import main as bench

    return bench(argv)


def _fail(message: str, *, code: int) -> int:
    print(f"prefect-image-edit: error: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prefect-image-edit", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="Run every flow on the emulated vendors and a local archive (no keys)."
    )
    demo.add_argument("--output", default="demo-output", help="Where inputs and results go.")
    demo.set_defaults(handler=_demo)

    erase = commands.add_parser("erase", help="Erase the masked object from one image.")
    erase.add_argument("image", help="The image file (or s3:// URI with --archive).")
    source = erase.add_mutually_exclusive_group(required=True)
    source.add_argument("--mask", help="Mask image: white erases, black keeps.")
    source.add_argument(
        "--box", type=_box, action="append", help="LEFT,TOP,RIGHT,BOTTOM px to erase (repeat)."
    )
    source.add_argument(
        "--from-alpha", action="store_true", help="Erase the image's transparent pixels."
    )
    erase.add_argument("--provider", choices=PROVIDERS, default="local")
    erase.add_argument(
        "--fallback", choices=PROVIDERS, action="append", help="Next provider on outages."
    )
    erase.add_argument("--out", help="Output file (default: <image>-erased.png).")
    erase.add_argument("--seed", type=int, default=0)
    erase.add_argument(
        "--policy", choices=("fail", "downscale", "crop_around_mask"), default="downscale"
    )
    for vendor in names():
        erase.add_argument(
            f"--{vendor}-credentials",
            metavar="BLOCK",
            help=f"Saved {vendor} credentials block (default: environment variables).",
        )
    erase.add_argument("--archive", metavar="SLUG/NAME", help="Saved archive storage block.")
    erase.add_argument("--verbose", action="store_true", help="Show Prefect's logs.")
    erase.add_argument(
        "--dry-run",
        action="store_true",
        help="Prepare and look everything up, pay for nothing; print what it would cost.",
    )
    erase.set_defaults(handler=_erase)

    serve = commands.add_parser(
        "serve",
        help="Create the vendor concurrency limits and serve the flows' deployments.",
        add_help=False,
    )
    serve.add_argument("serve_args", nargs=argparse.REMAINDER)
    serve.set_defaults(handler=_serve)

    # prefix "+": every argument, options too, goes to the bench's own parser untouched
    bench = commands.add_parser("bench", help="Measure the pack (issue 10).", prefix_chars="+")
    bench.add_argument("bench_args", nargs="*")
    bench.set_defaults(handler=lambda args: _bench(args.bench_args))

    from prefect_image_edit.emulators.cli import add_emulate_parser

    add_emulate_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
