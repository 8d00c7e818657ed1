"""The ``try-on`` flow: prepare once, coarse try-on, refine, archive both, show them in the UI.

It only composes tasks (``prefect_image_edit.tasks.try_on``). The blocks are resolved once per
run and handed to the tasks as instances; the person and garments are prepared once and both
submits send those bytes; each poll result goes straight to its archive step.
"""

from __future__ import annotations

import anyio.to_thread
from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from pydantic import BaseModel, Field

from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.flows.artifacts import artifact_key, before_after_markdown
from prefect_image_edit.flows.erase import DEFAULT_CONNECTIONS
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.tasks.archive import read_archived, resolve_archive
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.prepare import read_staged
from prefect_image_edit.tasks.try_on import (
    VENDOR,
    Gender,
    PreparedOutfit,
    TryOnJob,
    archive_try_on_result,
    poll_try_on_jobs,
    prepare_try_on,
    submit_try_on_coarse,
    submit_try_on_refiner,
)

__all__ = ["TryOnOutcome", "try_on"]


class TryOnOutcome(BaseModel):
    """Both archived results, the jobs that paid for them, and what they may have cost extra."""

    coarse: ArchivedRef
    refined: ArchivedRef
    coarse_job: TryOnJob
    refined_job: TryOnJob
    attempts: int = Field(default=0, description="Paid requests sent for both jobs.")
    possible_double_charges: int = Field(
        default=0, description="Requests that may have been billed twice (see the ledger)."
    )


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
    archive = await resolve_archive(connections.archive)
    credentials = await resolve_credentials(VENDOR, connections.ailabtools)
    rps = connections.requests_per_second
    outfit = await prepare_try_on(person_image, top_garment, bottom_garment, archive)

    coarse_job = await submit_try_on_coarse(outfit, credentials, rps)
    [coarse_done] = await poll_try_on_jobs([coarse_job], credentials, timeout_seconds)
    coarse = await archive_try_on_result(coarse_job, credentials, archive, coarse_done)

    refined_job = await submit_try_on_refiner(outfit, coarse, gender, credentials, archive, rps)
    [refined_done] = await poll_try_on_jobs([refined_job], credentials, timeout_seconds)
    refined = await archive_try_on_result(refined_job, credentials, archive, refined_done)

    jobs = (coarse_job, refined_job)
    outcome = TryOnOutcome(
        coarse=coarse,
        refined=refined,
        coarse_job=coarse_job,
        refined_job=refined_job,
        attempts=sum(job.attempts for job in jobs),
        possible_double_charges=sum(job.possible_double_charges for job in jobs),
    )
    await _publish(outcome, outfit, archive)
    return outcome


async def _publish(outcome: TryOnOutcome, outfit: PreparedOutfit, archive: ArchiveStorage) -> None:
    """A before/after artifact: the prepared person (staged here) and both results."""
    before = await anyio.to_thread.run_sync(read_staged, outfit.person)
    if before is None:  # staging was cleaned meanwhile: the results are archived anyway
        return
    afters = [
        ("coarse", await read_archived(archive, outcome.coarse), outcome.coarse.uri),
        ("refined", await read_archived(archive, outcome.refined), outcome.refined.uri),
    ]
    details = [
        ("coarse task", outcome.coarse_job.task_id),
        ("refiner task", outcome.refined_job.task_id),
        ("paid requests", str(outcome.attempts)),
        ("possible double charges", str(outcome.possible_double_charges)),
    ]
    person = outfit.person_source
    await acreate_markdown_artifact(
        markdown=before_after_markdown(
            f"Try-on: {person.rsplit('/', 1)[-1]}", before, afters, details
        ),
        key=artifact_key("try-on", person.rsplit("/", 1)[-1].rsplit(".", 1)[0]),
        description="Person, coarse and refined try-on results",
    )
