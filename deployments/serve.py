"""Serve the pack's flows from one long-running process.

``python -m prefect_image_edit.deployments.serve`` (or ``prefect-image-edit serve``) is for
UI-triggered and scheduled runs without a work pool. It first creates the vendors'
concurrency limits when missing (``image-edit:tencent-aiart`` 1, ...), so every run finds them,
then serves four deployments: erase and try-on on demand, batch-erase (paused nightly schedule)
and the archive sweeper every 10 minutes. ``prefect.yaml`` beside this file describes the same
deployments for a process work pool.
"""

from __future__ import annotations

import argparse
import asyncio

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron, Interval
from prefect.types.entrypoint import EntrypointType

from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.flows.sweeper import archive_sweeper
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.tasks.limits import ensure_limit, vendor_limits
from prefect_image_edit.vendors import registry

__all__ = ["build_deployments", "ensure_vendor_limits", "main"]

SWEEP_EVERY_SECONDS = 600


async def ensure_vendor_limits() -> dict[str, int]:
    """Create each vendor's Prefect concurrency limit with its default, if missing."""
    return {name: await ensure_limit(name, size) for name, size in vendor_limits().values()}


def build_deployments(connections: dict | None = None) -> list:
    """The four deployments, taking ``connections`` (block names) as their default."""
    parameters = {"connections": connections} if connections else {}
    common = {"tags": ["image-edit"], "entrypoint_type": EntrypointType.MODULE_PATH}
    return [
        erase.to_deployment(
            name="erase-on-demand",
            description="Erase an object from one image, triggered from the UI with a form.",
            parameters=parameters,
            **common,
        ),
        try_on.to_deployment(
            name="try-on-on-demand",
            description="Dress a person in a garment (Try on Clothes Pro, then the Refiner).",
            parameters=parameters,
            **common,
        ),
        batch_erase.to_deployment(
            name="batch-erase-nightly",
            description="Erase objects from every image of a folder or prefix, nightly.",
            schedules=[Cron("0 2 * * *", timezone="UTC", active=False)],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
            ),
            parameters=parameters,
            **common,
        ),
        archive_sweeper.to_deployment(
            name="archive-sweeper",
            description="Archive results still only at a vendor; raise an event before expiry.",
            schedules=[Interval(SWEEP_EVERY_SECONDS)],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            parameters=parameters,
            **common,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for vendor in registry.names():
        parser.add_argument(f"--{vendor}", metavar="BLOCK", help=f"Saved {vendor} credentials.")
    parser.add_argument("--archive", metavar="SLUG/NAME", help="Saved archive storage block.")
    parser.add_argument("--limit", type=int, default=4, help="Runs executed at once.")
    args = parser.parse_args(argv)
    connections = {
        key: value for key in (*registry.names(), "archive") if (value := getattr(args, key))
    }
    asyncio.run(ensure_vendor_limits())
    serve(*build_deployments(connections or None), limit=args.limit)


if __name__ == "__main__":
    main()
