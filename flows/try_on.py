"""The ``try-on`` flow: coarse try-on, refine, archive both, show them in the Prefect UI."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from pydantic import BaseModel

from prefect_image_edit.flows.artifacts import artifact_key, before_after_markdown
from prefect_image_edit.flows.erase import DEFAULT_CONNECTIONS
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.tasks.archive import read_archived, resolve_archive
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.prepare import source_client
from prefect_image_edit.tasks.sources import read_source
from prefect_image_edit.tasks.try_on import (
    Gender,
    TryOnJob,
    archive_try_on_result,
    poll_try_on_jobs,
    submit_try_on_coarse,
    submit_try_on_refiner,
)

__all__ = ["TryOnOutcome", "try_on"]


class TryOnOutcome(BaseModel):
    """Both archived results and the jobs that paid for them."""

    coarse: ArchivedRef
    refined: ArchivedRef
    coarse_job: TryOnJob
    refined_job: TryOnJob


@flow(name="try-on", log_prints=False)
async def try_on(
    person_image: str,
    top_garment: str,
    gender: Gender,
    bottom_garment: str | None = None,
    timeout_seconds: float = 3600,
    connections: Connections = DEFAULT_CONNECTIONS,
) -> TryOnOutcome:
    """Dress a person in garments: Try on Clothes Pro, then the Refiner; archive both results.

    Args:
        person_image: Path or s3:// URI of a full-body front photo, hands visible.
        top_garment: Path or s3:// URI of the top garment laid flat on a plain background.
        gender: Gender of the person (woman or man), which the Refiner needs.
        bottom_garment: Optional bottom garment; leave empty for a dress.
        timeout_seconds: Give up waiting for each job after this long (never past the
            vendor's 24 h retention).
        connections: Saved blocks: AILabTools credentials and the archive storage.
    """
    credentials, archive = connections.ailabtools, connections.archive
    rps = connections.requests_per_second
    coarse_job = await submit_try_on_coarse(
        person_image, top_garment, bottom_garment, credentials, archive, rps
    )
    await poll_try_on_jobs([coarse_job], credentials, timeout_seconds)
    coarse = await archive_try_on_result(coarse_job, credentials, archive)
    refined_job = await submit_try_on_refiner(
        person_image, top_garment, coarse, gender, bottom_garment, credentials, archive, rps
    )
    await poll_try_on_jobs([refined_job], credentials, timeout_seconds)
    refined = await archive_try_on_result(refined_job, credentials, archive)
    outcome = TryOnOutcome(
        coarse=coarse, refined=refined, coarse_job=coarse_job, refined_job=refined_job
    )
    await _publish(outcome, person_image, archive)
    return outcome


async def _publish(outcome: TryOnOutcome, person_image: str, archive: Any) -> None:
    storage = await resolve_archive(archive)
    before = await read_source(person_image, s3_client=await source_client(archive))
    afters = [
        ("coarse", await read_archived(storage, outcome.coarse), outcome.coarse.uri),
        ("refined", await read_archived(storage, outcome.refined), outcome.refined.uri),
    ]
    details = [
        ("coarse task", outcome.coarse_job.task_id),
        ("refiner task", outcome.refined_job.task_id),
    ]
    await acreate_markdown_artifact(
        markdown=before_after_markdown(f"Try-on: {person_image}", before, afters, details),
        key=artifact_key("try-on", person_image.rsplit("/", 1)[-1].rsplit(".", 1)[0]),
        description="Person, coarse and refined try-on results",
    )
