"""Prefect flows: erase, batch-erase, try-on and the archive sweeper."""

from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.flows.models import Connections, OutputOptions
from prefect_image_edit.flows.sweeper import archive_sweeper
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.tasks.batch_items import BatchSource

__all__ = [
    "BatchSource",
    "Connections",
    "OutputOptions",
    "archive_sweeper",
    "batch_erase",
    "erase",
    "try_on",
]
