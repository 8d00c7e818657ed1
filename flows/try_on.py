"""The ``try-on`` flow: prepare once, coarse try-on, refine, archive both, show them in the UI.

It only composes tasks (``prefect_image_edit.tasks.try_on``). The blocks are resolved once per
run and handed to the tasks as instances; the person and garments are prepared once and both
submits send those bytes; each poll result goes straight to its archive step.
"""

from __future__ import annotations

import anyio.to_thread
from prefect import Task, flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.states import Completed, Failed
from pydantic import BaseModel, Field, PrivateAttr

from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.errors import ResultExpired
from prefect_image_edit.flows.artifacts import artifact_key, before_after_markdown
from prefect_image_edit.flows.erase import DEFAULT_CONNECTIONS, publish_dry_run
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.state import CallState
from prefect_image_edit.tasks.archive import find_archived, read_archived, resolve_archive
from prefect_image_edit.tasks.cost import BudgetExceeded, PriceTable, RunSpend, format_cost
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.dry_run import (
    DryRunReport,
    DryRunRow,
    apply_cap,
    check_archive_reachable,
    error_row,
)
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.prepare import read_staged
from prefect_image_edit.tasks.run_cost import finish_run, start_run
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
from prefect_image_edit.tasks.try_on.models import PRO_ACTION, REFINER_ACTION
from prefect_image_edit.tasks.try_on.records import records
from prefect_image_edit.tasks.try_on.submit import coarse_key, refiner_key

__all__ = ["TryOnOutcome", "try_on"]


class TryOnOutcome(BaseModel):
    """Both archived results, the jobs that paid for them, and what they may have cost extra."""

    coarse: ArchivedRef
    refined: ArchivedRef
    coarse_job: TryOnJob
    refined_job: TryOnJob
    attempts: int = Field(default=0, description="Paid requests sent for both jobs.")
    possible_double_charges: int = Field(
        default=0, description="Requests that may have been billed twice (see the state)."
    )
    repayments: int = Field(
        default=0,
        description="Charges for an input already paid for (an expired or lost result).",
    )
    cost: float | None = Field(
        default=0.0,
        description="What this run's billed submits cost, in the price table's unit (0 when "
        "both results were found already paid for; None: price unknown).",
    )
    spend: RunSpend | None = Field(default=None, description="This run's spend by action.")
    _outfit: PreparedOutfit | None = PrivateAttr(default=None)


@flow(name="try-on", log_prints=False)
async def try_on(
    person_image: str,
    top_garment: str,
    gender: Gender,
    bottom_garment: str | None = None,
    timeout_seconds: float = 3600,
    connections: Connections = DEFAULT_CONNECTIONS,
    dry_run: bool = False,
    max_cost: float | None = None,
) -> TryOnOutcome | DryRunReport:
    """Dress a person in garments: Try on Clothes Pro, then the Refiner; archive both results.

    Args:
        person_image: Path or s3:// URI of a full-body front photo, hands visible.
        top_garment: Path or s3:// URI of the top garment laid flat on a plain background.
        gender: Gender of the person (woman or man), which the Refiner needs.
        bottom_garment: Optional bottom garment; leave empty for a dress.
        timeout_seconds: Give up waiting for each job after this long (never past the
            vendor's 24 h retention).
        connections: Saved blocks: AILabTools credentials, the archive storage and prices.
        dry_run: Prepare the images and look the jobs up as a real run would, pay for
            nothing, and report the cost (0 when already paid for) or the error.
        max_cost: Spend at most this much in this run (AILabTools credits by default); a
            submit that could pass it is not made.
    """
    archive = await resolve_archive(connections.archive)
    credentials = await resolve_credentials(VENDOR, connections.ailabtools)
    meter = await start_run(connections.prices, max_cost)
    if dry_run:
        report = await _dry_run(
            person_image, top_garment, bottom_garment, gender, archive, meter.prices, max_cost
        )
        await publish_dry_run(report, "try-on")
        return Completed(message=report.summary(), data=report)
    try:
        outcome = await _try_on(
            person_image,
            top_garment,
            gender,
            bottom_garment,
            timeout_seconds,
            connections,
            archive,
            credentials,
        )
    except BudgetExceeded as error:
        spend = await finish_run(meter)
        return Failed(message=f"{error}; {spend.summary()}", data=error)
    except BaseException:
        await finish_run(meter)
        raise
    spend = await finish_run(meter)
    outfit = outcome._outfit
    outcome = outcome.model_copy(update={"cost": spend.total, "spend": spend})
    await _publish(outcome, outfit, archive)
    return Completed(message=f"dressed and refined; {spend.summary()}", data=outcome)


async def _dry_run(
    person_image: str,
    top_garment: str,
    bottom_garment: str | None,
    gender: Gender,
    archive: ArchiveStorage,
    prices: PriceTable,
    max_cost: float | None,
) -> DryRunReport:
    """Prepare as the real run does; each job is free if already paid for, else its price."""
    await check_archive_reachable(archive)
    try:
        outfit = await prepare_try_on(person_image, top_garment, bottom_garment, archive)
    except Exception as error:
        rows = [error_row(person_image, error, "ailabtools")]
        return DryRunReport(rows=rows, unit=prices.unit, max_cost=max_cost)
    book = records()

    async def done(key: str) -> str | None:
        """The archived sha256 of a job already paid for, "" if paid but not archived yet."""
        record = await book.store.get(key)
        if await find_archived(archive, record) is not None:
            return record.archived_sha256
        return "" if await book.paid_job(key) is not None else None

    coarse = await done(coarse_key(outfit))
    refined = await done(refiner_key(outfit, coarse, gender)) if coarse else None
    rows = []
    for action, found, label in (
        (PRO_ACTION, coarse, "coarse"),
        (REFINER_ACTION, refined, "refined"),
    ):
        calls = 0 if found is not None else 1
        price = prices.price(VENDOR, action)
        rows.append(
            DryRunRow(
                item=f"{person_image} ({label})",
                provider=VENDOR,
                vendor=VENDOR,
                action=action,
                calls=calls,
                price=price,
                cached=calls == 0,
                cost=0.0 if calls == 0 else price,
            )
        )
    return DryRunReport(rows=apply_cap(rows, max_cost), unit=prices.unit, max_cost=max_cost)


async def _try_on(
    person_image: str,
    top_garment: str,
    gender: Gender,
    bottom_garment: str | None,
    timeout_seconds: float,
    connections: Connections,
    archive: ArchiveStorage,
    credentials,
) -> TryOnOutcome:
    rps = connections.requests_per_second
    outfit = await prepare_try_on(person_image, top_garment, bottom_garment, archive)

    async def finish(submit: Task, *args: object) -> tuple[TryOnJob, ArchivedRef]:
        return await _submit_poll_archive(
            submit, args, credentials, archive, timeout_seconds=timeout_seconds
        )

    coarse_job, coarse = await finish(submit_try_on_coarse, outfit, credentials, rps)
    refined_job, refined = await finish(
        submit_try_on_refiner, outfit, coarse, gender, credentials, archive, rps
    )

    # The records, not the (possibly cached) jobs: they count every request ever sent.
    charges = await records().charges([coarse_job.key, refined_job.key])
    outcome = TryOnOutcome(
        coarse=coarse,
        refined=refined,
        coarse_job=coarse_job,
        refined_job=refined_job,
        attempts=charges.attempts,
        possible_double_charges=charges.possible_double_charges,
        repayments=charges.repayments,
    )
    outcome._outfit = outfit
    return outcome


async def _submit_poll_archive(
    submit: Task,
    args: tuple[object, ...],
    credentials,
    archive: ArchiveStorage,
    *,
    timeout_seconds: float,
) -> tuple[TryOnJob, ArchivedRef]:
    """One paid stage: submit (or resume), poll, archive.

    A job the vendor no longer keeps, whose result nobody archived (its record is expired:
    the vendor said so), is submitted once more past Prefect's cache of the submit: the
    submit then pays again as a counted ``expired`` re-payment. Any other ``ResultExpired``
    (a URL refused while the vendor still keeps the task) is not a reason to pay again.
    """
    job = await submit(*args)
    for again in (False, True):
        try:
            [done] = await poll_try_on_jobs([job], credentials, timeout_seconds)
            return job, await archive_try_on_result(job, credentials, archive, done)
        except ResultExpired:
            record = await records().get(job.key)
            if again or record is None or record.state is not CallState.EXPIRED:
                raise
        job = await submit.with_options(refresh_cache=True)(*args)
    raise AssertionError("unreachable")


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
        ("cost", format_cost(outcome.cost)),
        *((("run spend", outcome.spend.summary()),) if outcome.spend is not None else ()),
    ]
    person = outfit.person_source
    await acreate_markdown_artifact(
        markdown=before_after_markdown(
            f"Try-on: {person.rsplit('/', 1)[-1]}", before, afters, details
        ),
        key=artifact_key("try-on", person.rsplit("/", 1)[-1].rsplit(".", 1)[0]),
        description="Person, coarse and refined try-on results",
    )
