"""``prefect-image-edit emulate``: serve the three vendor emulators until interrupted.

With ``--json`` the first line on stdout is one JSON object, ``connection_info()``, so any
client (the vendors' official SDKs included) can be pointed at the emulators by a script::

    prefect-image-edit emulate --json
    {"ailabtools": {"base_url": ..., "api_key": ...}, "tencent": {...}, "volcengine": {...}}

Ctrl-C (SIGINT) or SIGTERM stops the servers cleanly. Settings can be given as
``--set tencent.latency=0.5`` (values are JSON, else strings); the control API
(``/_emulator/...`` on every port) changes them at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

__all__ = ["add_emulate_parser", "run_emulate"]

VENDORS = ("ailabtools", "tencent", "volcengine")


def add_emulate_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``emulate`` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "emulate",
        help="Serve local emulators of AILabTools, Tencent aiart and Volcengine visual.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="Loopback address to bind.")
    for vendor in VENDORS:
        parser.add_argument(
            f"--{vendor}-port", type=int, default=0, help=f"{vendor} emulator port (0: free)."
        )
    parser.add_argument(
        "--json", action="store_true", help="First print one JSON line of connection info."
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        metavar="N",
        help="Accounts per vendor, each with its own keys, concurrency limit, credits and "
        "billing counters (listed under 'accounts' in --json).",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="VENDOR.FIELD=VALUE",
        help="Change a setting, e.g. tencent.latency=0.5 (repeatable).",
    )
    parser.set_defaults(handler=run_emulate)
    return parser


def _parse_settings(items: list[str]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"emulate: --set wants VENDOR.FIELD=VALUE, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        vendor, dot, field = name.partition(".")
        if dot:
            patch.setdefault(vendor, {})[field] = value
        else:
            patch[name] = value
    return patch


def run_emulate(args: argparse.Namespace) -> int:
    """Start the suite, announce it, and block until SIGINT or SIGTERM."""
    from prefect_image_edit.emulators.suite import EmulatorSuite

    ports = {f"{vendor}_port": getattr(args, f"{vendor}_port") for vendor in VENDORS}
    try:
        suite = EmulatorSuite(host=args.host, accounts=args.accounts, **ports)
        suite.settings.update(_parse_settings(args.settings))
    except (TypeError, ValueError) as exc:
        print(f"emulate: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # Ctrl-C and SIGTERM both stop it, even when started with SIGINT ignored (a child keeps
    # its parent's ignored signals, and Python then installs no KeyboardInterrupt handler).
    for stopping in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stopping, lambda *_: stop.set())
    try:
        suite.start()
    except (OSError, RuntimeError) as exc:
        print(f"emulate: cannot start the emulators: {exc}", file=sys.stderr)
        return 2
    try:
        info = suite.connection_info()
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            for vendor, values in info.items():
                print(f"{vendor:<11} {values['base_url']}", flush=True)
            print("Throw-away credentials: see --json. Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        suite.stop()
    # Every server is stopped (or past its bounded wait). Leave now: on a loaded machine the
    # interpreter's exit could wait on worker threads a hung request still held, and Ctrl-C
    # must end the command (this handler only ever runs as the ``emulate`` process).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
