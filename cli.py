"""The ``prefect-image-edit`` command line: the pack's flows, from a shell.

Exit codes: 0 done, 1 the work failed (a vendor, the archive, Prefect), 2 bad input or usage
(nothing was paid). Every failure is one line on stderr, ``prefect-image-edit: error: ...``;
``--verbose`` adds Prefect's logs and the traceback. Prefect is imported only inside the
commands, after the logging settings are chosen, and only what the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect_image_edit import __version__
from prefect_image_edit.vendors import registry

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EPHEMERAL_TIMEOUT_S = "120"


class CommandError(Exception):
    """A failure the command explains itself (one line), with its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _quiet(verbose: bool, quiet: bool = True) -> None:
    """Set before Prefect is imported: one line per result or error unless ``--verbose``.

    ``ui`` and ``serve`` pass ``quiet=False``: their flow runs inherit this environment, and
    their logs belong in the Prefect UI."""
    if quiet and not verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_TIMEOUT_S)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _check_api() -> None:
    """With ``PREFECT_API_URL`` set, that server is used (no ephemeral one starts): say at once,
    in one line, when it does not answer."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as error:
        raise CommandError(
            f"the Prefect API at {url} does not answer ({type(error).__name__}): start it "
            "(prefect server start / prefect-image-edit ui) or unset PREFECT_API_URL"
        ) from None


def explain(error: BaseException) -> tuple[str, int]:
    """One line and an exit code for any failure: the pack's, pydantic's or Prefect's."""
    from pydantic import ValidationError

    from prefect_image_edit.errors import ImageEditError

    if isinstance(error, CommandError):
        return str(error), error.code
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        return (f"{where}: {message}" if where else message), EXIT_USAGE
    text = " ".join(str(error).split())
    if "ephemeral Prefect API server" in text:
        return (
            "Prefect's temporary API did not start in time (a busy machine?): start a server "
            "(prefect server start, or prefect-image-edit ui) and set PREFECT_API_URL, or raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
            EXIT_FAILED,
        )
    if isinstance(error, ImageEditError):
        return text, EXIT_USAGE if isinstance(error, ValueError) else EXIT_FAILED
    return f"{type(error).__name__}: {text} (--verbose shows the traceback)", EXIT_FAILED


def _give_back_slots() -> None:
    """Return this process's vendor slot leases before exiting: a short-lived command would
    otherwise hold them until they expire, and a server that reaps no expired leases (Prefect's
    temporary API, the test harness) would keep the vendor's limit taken for good.

    Uses ``tasks.slots``' process pools only when the command loaded them.
    """
    slots = sys.modules.get("prefect_image_edit.tasks.slots")
    pools = list(getattr(slots, "_pools", {}).values()) if slots else []
    for pool in pools:
        try:
            asyncio.run(pool.close())
        except Exception as error:  # exiting anyway; the lease expires on its own
            print(f"prefect-image-edit: note: a vendor slot was kept: {error}", file=sys.stderr)


def _fail(message: str, *, code: int) -> int:
    print(f"prefect-image-edit: error: {message}", file=sys.stderr)
    return code


def _connections(args: argparse.Namespace, vendors: tuple[str, ...] | None = None) -> Any:
    from prefect_image_edit.flows.models import Connections

    vendors = registry.names() if vendors is None else vendors
    given = {v: b for v in vendors if (b := getattr(args, f"{v}_credentials", None))}
    fields = Connections.model_fields
    return Connections(
        **{v: b for v, b in given.items() if v in fields},
        other_credentials={v: b for v, b in given.items() if v not in fields},
        archive=args.archive,
    )


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        left, top, right, bottom = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LEFT,TOP,RIGHT,BOTTOM in px, got {text!r}"
        ) from None
    return left, top, right, bottom


def _image_format(path: Path) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")


# ---------------------------------------------------------------------------------- commands


def _prefect_api_configured() -> bool:
    """Whether a Prefect server is configured (environment or the active profile)."""
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def _runs_here(args: argparse.Namespace, chain: list[str]) -> bool:
    """Whether this erase runs in-process, with no Prefect server at all: every provider of
    the chain is free (runs on this machine), no saved block is named (those live in a
    Prefect server) and no server is configured. Prefect's orchestration (vendor concurrency
    limits, retries, run history) guards paid calls; a free one would only wait seconds for a
    temporary server to start and stop. Set PREFECT_API_URL to record these runs too."""
    from prefect_image_edit.tasks.providers import provider as provider_spec

    if args.dry_run or args.archive or any(provider_spec(p).paid for p in chain):
        return False
    return not _prefect_api_configured()


async def _erase_here(
    image: str, mask: Any, chain: list[str], settings: Any, policy: str, output: Any
):
    """The erase flow's one item, run in this process with no Prefect run (free providers)."""
    from prefect_image_edit.tasks.item import erase_one
    from prefect_image_edit.tasks.sources import check_output_path

    check_output_path(output.path, image)
    return await erase_one(image, mask, chain, settings=settings, policy=policy, output=output)


def _erase(args: argparse.Namespace) -> int:
    from prefect_image_edit.tasks.models import EraseSettings, MaskOptions, OutputOptions

    image = Path(args.image)
    out = Path(args.out) if args.out else Path(f"{image.stem}-erased.png")
    mask = MaskOptions(mask=args.mask, boxes=args.box or [], from_alpha=args.from_alpha)
    settings = EraseSettings(seed=args.seed)
    output = OutputOptions(format=_image_format(out), path=str(out))
    chain = list(dict.fromkeys([args.provider, *(args.fallback or [])]))
    if _runs_here(args, chain):
        outcome = asyncio.run(_erase_here(str(image), mask, chain, settings, args.policy, output))
        return _print_erased(outcome)
    from prefect_image_edit.flows.erase import erase

    connections = _connections(args)
    _check_api()
    outcome = asyncio.run(
        erase(
            str(image),
            mask,
            args.provider,
            fallback=args.fallback or None,
            settings=settings,
            policy=args.policy,
            output=output,
            connections=connections,
            dry_run=args.dry_run,
        )
    )
    if args.dry_run:
        return _print_dry_run(outcome)
    return _print_erased(outcome)


def _print_erased(outcome: Any) -> int:
    variant = outcome.variants[0]
    print(f"{variant.final.written_to} ({outcome.provider}; archived {variant.final.archived.uri})")
    return EXIT_OK


def _progress(done: float, width: int = 30) -> None:
    """A one-line progress bar on stderr (only on a terminal: logs and pipes stay clean)."""
    if not sys.stderr.isatty():
        return
    filled = round(width * done / 100)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:5.1f}%")
    sys.stderr.flush()


async def _watch_progress(run_ids: list, stop: asyncio.Event) -> None:
    """Follow the batch's progress artifact (``batch-erase-progress``) of this flow run."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    async with get_client() as client:
        while not stop.is_set():
            if run_ids:
                found = await client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        key=ArtifactFilterKey(any_=["batch-erase-progress"]),
                        flow_run_id=ArtifactFilterFlowRunId(any_=run_ids),
                    ),
                    limit=1,
                )
                if found and isinstance(found[0].data, int | float):
                    _progress(float(found[0].data))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)


async def _run_batch(args: argparse.Namespace) -> Any:
    from prefect_image_edit.flows.batch import batch_erase
    from prefect_image_edit.tasks.batch_items import BatchSource

    source = Path(args.source)
    manifest = source.suffix.lower() in (".csv", ".jsonl") or args.source.endswith(
        (".csv", ".jsonl")
    )
    batch_source = BatchSource(
        images=None if manifest else args.source,
        manifest=args.source if manifest else None,
        masks=args.masks,
    )
    run_ids: list = []

    def remember(flow, flow_run, state) -> None:
        run_ids.append(flow_run.id)

    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_progress(run_ids, stop))
    try:
        state = await batch_erase.with_options(on_running=[remember])(
            batch_source,
            provider=args.provider,
            fallback=args.fallback or None,
            output_format=args.format,
            max_concurrency=args.concurrency,
            connections=_connections(args),
            return_state=True,
        )
    finally:
        stop.set()
        await watcher
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    return state, await state.aresult(raise_on_failure=False)


def _batch(args: argparse.Namespace) -> int:
    _check_api()
    _state, summary = asyncio.run(_run_batch(args))
    if isinstance(summary, BaseException):
        raise summary
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for row in summary.rows:
        if row.status == "done":
            written = _copy_out(row.archived, row.item, out) if out else None
            print(f"done    {row.item} -> {written or row.archived}")
        else:
            print(f"failed  {row.item}: {row.error}")
    print(f"{summary.succeeded} of {summary.total} erased, {summary.failed} failed")
    if summary.manifest_uri:
        print(f"results manifest: {summary.manifest_uri}")
    if summary.failed:
        return _fail(f"{summary.failed} of {summary.total} items failed (listed above)", code=1)
    return EXIT_OK


def _copy_out(uri: str | None, item: str, out: Path) -> str | None:
    """Copy an archived local result next to the others in ``out`` (``s3://`` stays put)."""
    if not uri or not uri.startswith("file://"):
        return uri
    from urllib.parse import unquote, urlsplit

    source = Path(unquote(urlsplit(uri).path))
    target = out / f"{Path(item).stem}-erased{source.suffix}"
    shutil.copyfile(source, target)
    return str(target)


def _try_on(args: argparse.Namespace) -> int:
    from prefect_image_edit.flows.try_on import try_on
    from prefect_image_edit.tasks.archive import read_archived, resolve_archive
    from prefect_image_edit.tasks.try_on import VENDOR

    setattr(args, f"{VENDOR}_credentials", args.credentials)
    connections = _connections(args, vendors=(VENDOR,))
    _check_api()

    async def run() -> tuple[Any, bytes | None]:
        outcome = await try_on(
            args.person,
            args.top,
            args.gender,
            bottom_garment=args.bottom,
            connections=connections,
        )
        data = None
        if args.out:
            data = await read_archived(await resolve_archive(connections.archive), outcome.refined)
        return outcome, data

    outcome, data = asyncio.run(run())
    if args.out and data is not None:
        Path(args.out).write_bytes(data)
        print(f"{args.out} (refined; archived {outcome.refined.uri})")
    else:
        print(f"refined {outcome.refined.uri}")
    print(f"coarse  {outcome.coarse.uri}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from prefect_image_edit.deployments.serve import connections_from_args, serve_deployments

    _check_api()
    serve_deployments(connections_from_args(args), limit=args.limit)
    return EXIT_OK


def _ui(args: argparse.Namespace) -> int:
    from prefect_image_edit.ui import run_ui

    return run_ui(home=args.home, port=args.port, provider=args.provider, open_browser=args.open)


def _demo(args: argparse.Namespace) -> int:
    from prefect_image_edit.demo import run_demo

    return run_demo(args.output)


def _print_dry_run(report) -> int:
    """The dry run's table (issue 11): one line per item, then the totals; 1 if any would fail."""
    for row in report.table():
        print("  ".join(f"{name}={value}" for name, value in row.items() if value))
    print(report.summary())
    return 1 if report.errors else 0


def _bench(argv: list[str]) -> int:
    from prefect_image_edit.bench import main as bench

    return bench(argv)


# ------------------------------------------------------------------------------------ parser


def _credentials_options(parser: argparse.ArgumentParser, vendors: tuple[str, ...]) -> None:
    for name in vendors:
        spec = registry.get(name)
        env = " and ".join(spec.env[field] for field in spec.required)
        parser.add_argument(
            f"--{name}-credentials",
            metavar="BLOCK",
            help=f"Saved {spec.title} credentials block (default: {env}).",
        )
    parser.add_argument(
        "--archive",
        metavar="TYPE-SLUG/NAME",
        help="Saved archive block, e.g. image-edit-s3-archive/prod (default: a local folder "
        "under PREFECT_IMAGE_EDIT_HOME).",
    )


def build_parser() -> argparse.ArgumentParser:
    providers = registry.erase_providers()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true", help="Show Prefect's logs and tracebacks."
    )
    parser = argparse.ArgumentParser(
        prog="prefect-image-edit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ui = commands.add_parser(
        "ui",
        parents=[common],
        help="The Prefect UI with the pack ready to click: server, emulators, blocks, "
        "deployments (Ctrl-C stops it all).",
        description="Start (or reuse, when PREFECT_API_URL answers) a local Prefect server, "
        "the vendor emulators, save blocks pointing at them and a local archive, serve the "
        "deployments and print the UI address and a run link. Ctrl-C stops everything.",
    )
    ui.add_argument(
        "--home",
        default=".prefect-image-edit-ui",
        help="Server database, samples and archive folder (default: ./.prefect-image-edit-ui).",
    )
    ui.add_argument(
        "--port", type=int, default=4200, help="Server port (4200; a free one when taken)."
    )
    ui.add_argument(
        "--provider",
        choices=providers,
        help="The erase form's default provider (default: the first emulated vendor).",
    )
    ui.add_argument("--open", action="store_true", help="Open the run link in a browser.")
    ui.set_defaults(handler=_ui, quiet=False)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="Run every flow on the emulated vendors and a local archive (no keys).",
    )
    demo.add_argument("--output", default="demo-output", help="Where inputs and results go.")
    demo.set_defaults(handler=_demo)

    erase = commands.add_parser(
        "erase",
        parents=[common],
        help="Erase the masked object from one image.",
        description="Erase the masked object from one image and archive the result. Runs as "
        "a flow on PREFECT_API_URL's server when one is configured, else on a temporary local "
        "one; a free erase (--provider local) with no server configured and no saved block "
        "runs in this process, with no Prefect server at all.",
    )
    erase.add_argument("image", help="The image file (or s3:// URI with --archive).")
    source = erase.add_mutually_exclusive_group(required=True)
    source.add_argument("--mask", help="Mask image: white erases, black keeps.")
    source.add_argument(
        "--box", type=_box, action="append", help="LEFT,TOP,RIGHT,BOTTOM px to erase (repeat)."
    )
    source.add_argument(
        "--from-alpha", action="store_true", help="Erase the image's transparent pixels."
    )
    erase.add_argument("--provider", choices=providers, default="local", help="(local)")
    erase.add_argument(
        "--fallback", choices=providers, action="append", help="Next provider on outages."
    )
    erase.add_argument("--out", help="Output file (default: IMAGE-erased.png).")
    erase.add_argument("--seed", type=int, default=0, help="Vendor seed (0).")
    erase.add_argument(
        "--policy",
        choices=("fail", "downscale", "crop_around_mask"),
        default="downscale",
        help="When the image breaks a vendor limit (downscale).",
    )
    _credentials_options(erase, registry.names())
    erase.add_argument(
        "--dry-run",
        action="store_true",
        help="Prepare and look everything up, pay for nothing; print what it would cost.",
    )
    erase.set_defaults(handler=_erase)

    batch = commands.add_parser(
        "batch",
        parents=[common],
        help="Erase objects from every image of a folder, s3:// prefix or manifest.",
        description="Erase objects from many images; one bad image never stops the batch. "
        "Prints one line per item; exits 1 when any item failed.",
    )
    batch.add_argument("source", help="Folder, s3:// prefix, or CSV/JSONL manifest.")
    batch.add_argument("--masks", metavar="DIR", help="Masks paired by file stem (a.jpg: a.png).")
    batch.add_argument("--provider", choices=providers, default="local", help="(local)")
    batch.add_argument(
        "--fallback", choices=providers, action="append", help="Next provider on outages."
    )
    batch.add_argument("--out", metavar="DIR", help="Copy the edited images here.")
    batch.add_argument(
        "--format",
        choices=("auto", "PNG", "JPEG", "WEBP"),
        default="auto",
        help="(auto: a JPEG photo stays JPEG, anything else becomes PNG)",
    )
    batch.add_argument("--concurrency", type=int, default=4, help="Items at once (4).")
    _credentials_options(batch, registry.names())
    batch.set_defaults(handler=_batch)

    try_on = commands.add_parser(
        "try-on",
        parents=[common],
        help="Dress a person in garments (Try on Clothes Pro, then the Refiner).",
    )
    try_on.add_argument("--person", required=True, help="Full-body front photo.")
    try_on.add_argument("--top", required=True, help="Top garment, laid flat.")
    try_on.add_argument("--bottom", help="Bottom garment (leave out for a dress).")
    try_on.add_argument("--gender", required=True, choices=("woman", "man"))
    try_on.add_argument("--out", metavar="PATH", help="Write the refined image here.")
    try_on.add_argument(
        "--credentials",
        metavar="BLOCK",
        help="Saved credentials block of the try-on vendor (default: its environment variables).",
    )
    _credentials_options(try_on, ())
    try_on.set_defaults(handler=_try_on)

    from prefect_image_edit.deployments.serve import add_serve_arguments

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="Create the vendor limits and serve the flows' deployments (*-served).",
        description="Serve erase, try-on, batch-erase and the archive sweeper from this "
        "process until Ctrl-C; block names given here are the runs' defaults (checked now).",
    )
    add_serve_arguments(serve)
    serve.set_defaults(handler=_serve, quiet=False)

    # prefix "+": every argument, options too, goes to the bench's own parser untouched
    bench = commands.add_parser("bench", help="Measure the pack (issue 10).", prefix_chars="+")
    bench.add_argument("bench_args", nargs="*")
    bench.set_defaults(handler=lambda args: _bench(args.bench_args), verbose=False)

    from prefect_image_edit.emulators.cli import add_emulate_parser

    add_emulate_parser(commands)
    return parser


def run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command: its exit code, or one line and 1/2 for whatever it raised."""
    verbose = bool(getattr(args, "verbose", False))
    _quiet(verbose, quiet=getattr(args, "quiet", True))
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if verbose:
            traceback.print_exc()
        message, code = explain(error)
        return _fail(message, code=code)
    finally:
        _give_back_slots()
        if not verbose and getattr(
            args, "quiet", True
        ):  # Prefect's exit-time "still sending events" notes, too
            logging.disable(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C interrupts every command, even one started with SIGINT ignored (a child
        # keeps its parent's ignored signals, and Python then installs no handler).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return run(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
