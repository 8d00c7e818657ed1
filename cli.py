"""The ``prefect-image-edit`` command line."""

from __future__ import annotations

import argparse
import sys

from prefect_image_edit import __version__


def _demo(_: argparse.Namespace) -> int:
    # Until the flows land, the demo signs one request per signing vendor and prints it.
    from prefect_image_edit.vendors.tencent import signing as tc3

    signed = tc3.sign(
        secret_id="AKIDdemo",
        secret_key="demo-secret",
        timestamp=1700000000,
        service="aiart",
        headers={"Content-Type": "application/json", "Host": "aiart.tencentcloudapi.com"},
        body=b"{}",
    )
    print(signed.authorization)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prefect-image-edit", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="Run the pack end to end on the embedded default.")
    demo.set_defaults(handler=_demo)
    from prefect_image_edit.emulators.cli import add_emulate_parser

    add_emulate_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
