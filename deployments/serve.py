"""Serve the pack's flows from one long-running process.

``prefect-image-edit serve`` (or ``python -m prefect_image_edit.deployments.serve``) is for
UI-triggered and scheduled runs without a work pool. It first creates the vendors'
concurrency limits when missing (``image-edit:tencent-aiart`` 1, ...), so every run finds them,
then serves four deployments: erase and try-on on demand, batch-erase (paused nightly schedule)
and the archive sweeper every 10 minutes.

The served deployments are named ``*-served`` (``erase/erase-served``); ``prefect.yaml``
describes the same flows for a process work pool under other names (``erase/erase-on-demand``),
so a worker left running from the yaml never picks up a served deployment's runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from prefect_image_edit.vendors import registry

__all__ = [
    "SERVED_NAMES",
    "add_serve_arguments",
    "build_deployments",
    "connections_from_args",
    "ensure_vendor_limits",
    "main",
    "resolve_references",
]

SWEEP_EVERY_SECONDS = 600

SERVED_NAMES = {
    "erase": "erase-served",
    "try-on": "try-on-served",
    "batch-erase": "batch-erase-served",
    "archive-sweeper": "archive-sweeper-served",
}
"""Flow name -> served deployment name (never one of ``prefect.yaml``'s names)."""


async def ensure_vendor_limits() -> dict[str, int]:
    """Create each vendor's Prefect concurrency limit with its default, if missing."""
    from prefect_image_edit.tasks.limits import ensure_limit, vendor_limits

    return {name: await ensure_limit(name, size) for name, size in vendor_limits().values()}


def build_deployments(
    connections: Mapping[str, Any] | None = None,
    *,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> list:
    """The four served deployments.

    Args:
        connections: The ``connections`` parameter's default: block names, or block document
            references (``{"$ref": {"block_document_id": ...}}``, what the UI's pickers hold).
        defaults: More parameter defaults by flow name (``{"erase": {"image": ...}}``), so a
            run from the form needs nothing typed.
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType

    from prefect_image_edit.flows.batch import batch_erase
    from prefect_image_edit.flows.erase import erase
    from prefect_image_edit.flows.sweeper import archive_sweeper
    from prefect_image_edit.flows.try_on import try_on

    defaults = defaults or {}

    def parameters(flow_name: str) -> dict[str, Any]:
        base = {"connections": dict(connections)} if connections else {}
        return {**base, **defaults.get(flow_name, {})}

    common = {"tags": ["image-edit"], "entrypoint_type": EntrypointType.MODULE_PATH}
    return [
        erase.to_deployment(
            name=SERVED_NAMES["erase"],
            description="Erase an object from one image, triggered from the UI with a form.",
            parameters=parameters("erase"),
            **common,
        ),
        try_on.to_deployment(
            name=SERVED_NAMES["try-on"],
            description="Dress a person in a garment (Try on Clothes Pro, then the Refiner).",
            parameters=parameters("try-on"),
            **common,
        ),
        batch_erase.to_deployment(
            name=SERVED_NAMES["batch-erase"],
            description="Erase objects from every image of a folder or prefix, nightly.",
            schedules=[Cron("0 2 * * *", timezone="UTC", active=False)],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
            ),
            parameters=parameters("batch-erase"),
            **common,
        ),
        archive_sweeper.to_deployment(
            name=SERVED_NAMES["archive-sweeper"],
            description="Archive results still only at a vendor; raise an event before expiry.",
            schedules=[Interval(SWEEP_EVERY_SECONDS)],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            parameters=parameters("archive-sweeper"),
            **common,
        ),
    ]


def add_serve_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The serve options, one credentials option per registered vendor."""
    for spec in registry.specs():
        parser.add_argument(
            f"--{spec.name}",
            metavar="BLOCK",
            help=f"Saved {spec.title} credentials block (its name), the runs' default.",
        )
    parser.add_argument(
        "--archive",
        metavar="TYPE-SLUG/NAME",
        help="Saved archive block, e.g. image-edit-s3-archive/prod (default: a local folder).",
    )
    parser.add_argument("--limit", type=int, default=4, help="Runs executed at once (4).")
    return parser


def connections_from_args(args: argparse.Namespace) -> dict[str, str]:
    """The block names given on the command line, by ``Connections`` field."""
    keys = (*registry.names(), "archive")
    return {key: value for key in keys if (value := getattr(args, key, None))}


async def resolve_references(connections: Mapping[str, Any]) -> dict[str, Any]:
    """Block names -> block document references, checked now: a misspelt name fails when
    serving starts (not at the first run), and the UI's pickers show the chosen blocks."""
    from prefect_image_edit.tasks.archive import resolve_archive
    from prefect_image_edit.tasks.credentials import resolve_credentials

    resolved: dict[str, Any] = {}
    for key, value in connections.items():
        if not isinstance(value, str):
            resolved[key] = value
            continue
        if key == "archive":
            block = await resolve_archive(value)
        else:
            block = await resolve_credentials(key, value)
        document_id = getattr(block, "_block_document_id", None)
        resolved[key] = {"$ref": {"block_document_id": str(document_id)}} if document_id else value
    return resolved


FILESYSTEM_LEASES = "prefect.server.concurrency.lease_storage.filesystem"


async def check_lease_storage() -> str | None:
    """A warning if the Prefect server keeps concurrency leases in memory (None: it does not,
    or it cannot say). With in-memory leases a server restart while a vendor slot is held
    leaks that slot for good; a killed worker's slot returns after 67-71 s either way."""
    from prefect import get_client

    try:
        async with get_client() as client:
            answer = await client._client.get("/admin/settings")
        storage = answer.json()["server"]["concurrency"]["lease_storage"]
    except Exception:  # an older server, or no admin API: nothing to say
        return None
    if storage == FILESYSTEM_LEASES:
        return None
    return (
        f"the Prefect server keeps concurrency leases in {storage!r}: a server restart while a "
        "vendor slot is held leaks that slot for good; start the server with "
        f"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE={FILESYSTEM_LEASES}"
    )


def serve_deployments(
    connections: Mapping[str, Any] | None = None,
    *,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    limit: int = 4,
    on_ready: Any = None,
) -> None:
    """Create the limits, apply the deployments and serve them until Ctrl-C."""
    from prefect import serve

    async def prepare() -> dict[str, Any]:
        await ensure_vendor_limits()
        references = await resolve_references(connections or {})  # a bad name: one line, stop
        warning = await check_lease_storage()
        if warning:
            print(f"prefect-image-edit serve: warning: {warning}", file=sys.stderr)
        return references

    references = asyncio.run(prepare())
    deployments = build_deployments(references or None, defaults=defaults)
    if on_ready is not None:
        on_ready(deployments)
    serve(*deployments, limit=limit, print_starting_message=on_ready is None)


def main(argv: list[str] | None = None) -> int:
    parser = add_serve_arguments(argparse.ArgumentParser(description=__doc__))
    args = parser.parse_args(argv)
    serve_deployments(connections_from_args(args), limit=args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
