"""try-on built the way erase is: prepared once, cached on the prepared bytes, paid once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from PIL import Image
from prefect import flow, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.state import STATE_URL_ENV, CallState, PaidCall, resolve_state
from prefect_image_edit.state.resolve import build_state
from prefect_image_edit.tasks.policy import STATE_LOCKS
from prefect_image_edit.tasks.try_on import (
    VENDOR,
    PreparedOutfit,
    TryOnJob,
    archive_try_on_result,
    coarse_key,
    poll_try_on_jobs,
    prepare_try_on,
    submit_try_on_coarse,
    submit_try_on_refiner,
)
from prefect_image_edit.tasks.try_on import prepare as prepare_module
from prefect_image_edit.vendors.errors import BadResultError, ErrorKind

from .conftest import BUCKET


@pytest.fixture
def wardrobe(make_scene, tmp_path):
    person, _ = make_scene("person", size=(300, 600))
    top = tmp_path / "top.png"
    Image.new("RGB", (300, 300), (200, 40, 20)).save(top)
    return str(person), str(top)


@pytest.fixture
def prepare_calls(monkeypatch) -> list[str]:
    """Every image prepared for try-on, by the name it was read from."""
    calls: list[str] = []
    real = prepare_module.prepare_image

    def counting(source, **kwargs):
        calls.append(source.name)
        return real(source, **kwargs)

    monkeypatch.setattr(prepare_module, "prepare_image", counting)
    return calls


async def _submit_states(flow_run_id, expected: int = 2) -> dict[str, str]:
    """Submit task run name -> final state name, for one flow run.

    Task run states reach the API through events, a moment after the run: wait for them
    (bounded), rather than for a fixed time.
    """
    states: dict[str, str | None] = {}
    async with get_client() as client:
        for _ in range(150):
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            states = {
                run.name: run.state.name if run.state and run.state.is_final() else None
                for run in runs
                if run.name.startswith("submit-try-on")
            }
            if len(states) == expected and None not in states.values():
                break
            await asyncio.sleep(0.2)
    return states


def test_person_and_garments_are_prepared_once_for_both_submits(
    emu, connections, wardrobe, prepare_calls
):
    person, top = wardrobe
    outcome = asyncio.run(try_on(person, top, "woman", connections=connections))
    assert sorted(prepare_calls) == sorted([person, top])  # once each, not again for the Refiner
    coarse, refined = outcome.coarse_job, outcome.refined_job
    assert {k: refined.inputs[k] for k in ("person", "top")} == coarse.inputs
    assert refined.inputs["coarse"] == outcome.coarse.sha256
    assert emu.counters.billable("ailabtools") == 2
    assert (outcome.attempts, outcome.possible_double_charges) == (2, 0)


def test_s3_person_and_garment_are_cached_on_their_prepared_bytes(
    emu, connections, wardrobe, s3, prepare_calls
):
    person, top = wardrobe
    prefix = f"try-on-inputs/{uuid.uuid4().hex}"
    s3.upload_file(person, BUCKET, f"{prefix}/person.jpg")
    s3.upload_file(top, BUCKET, f"{prefix}/top.png")
    person_uri, top_uri = f"s3://{BUCKET}/{prefix}/person.jpg", f"s3://{BUCKET}/{prefix}/top.png"

    first = asyncio.run(try_on(person_uri, top_uri, "man", connections=connections))
    assert emu.counters.billable("ailabtools") == 2
    state = asyncio.run(
        try_on(person_uri, top_uri, "man", connections=connections, return_state=True)
    )
    again = asyncio.run(state.aresult())
    assert emu.counters.billable("ailabtools") == 2  # the second run paid nothing
    submits = asyncio.run(_submit_states(state.state_details.flow_run_id))
    assert len(submits) == 2 and set(submits.values()) == {"Cached"}
    assert again.coarse_job == first.coarse_job
    assert (again.refined.uri, again.refined.sha256) == (first.refined.uri, first.refined.sha256)
    assert sorted(prepare_calls) == sorted([person_uri, top_uri] * 2)


@pytest.mark.parametrize("state", ["embedded", "postgresql"])
def test_two_concurrent_runs_of_the_same_input_pay_once(emu, connections, wardrobe, state, request):
    if state == "postgresql":  # the submits' lock is then a PostgreSQL advisory lock
        request.getfixturevalue("postgres_state")
    person, top = wardrobe
    emu.settings.ailabtools.latency = 0.5  # both runs reach each submit while one is paying

    async def both():
        states = await asyncio.gather(
            try_on(person, top, "woman", connections=connections, return_state=True),
            try_on(person, top, "woman", connections=connections, return_state=True),
        )
        submits = [await _submit_states(s.state_details.flow_run_id) for s in states]
        return [await s.aresult() for s in states], submits

    (first, second), submits = asyncio.run(both())
    assert emu.counters.billable("ailabtools") == 2
    # one run paid for each job; the other waited on the lock and found it in the cache
    for name in ("submit-try-on-coarse", "submit-try-on-refiner"):
        assert sorted(runs[n] for runs in submits for n in runs if n.startswith(name)) == [
            "Cached",
            "Completed",
        ]
    assert first.coarse_job.task_id == second.coarse_job.task_id
    assert first.refined_job.task_id == second.refined_job.task_id
    assert (first.refined.uri, first.refined.sha256) == (second.refined.uri, second.refined.sha256)


@flow
async def _prepare(person: str, top: str, archive: str) -> PreparedOutfit:
    return await prepare_try_on(person, top, None, archive)


def test_a_submit_that_died_in_flight_is_paid_again_and_counted(emu, connections, wardrobe):
    person, top = wardrobe
    outfit = asyncio.run(_prepare(person, top, connections.archive))
    store = resolve_state()
    # as if a process died while its Pro submit was out: the vendor may have billed it
    call = PaidCall(key=coarse_key(outfit), vendor=VENDOR, action="TryOnClothesPro")
    asyncio.run(store.begin(call))
    outcome = asyncio.run(try_on(person, top, "woman", connections=connections))
    assert outcome.coarse_job.possible_double_charges == 1
    assert (outcome.attempts, outcome.possible_double_charges) == (3, 1)
    assert emu.counters.billable("ailabtools") == 2
    assert asyncio.run(store.get(outcome.coarse_job.key)).state is CallState.ARCHIVED


@flow
async def _another_machine(person: str, top: str, gender: str, connections) -> list[TryOnJob]:
    """Both stages with Prefect's cache bypassed, as a machine whose own cache is empty: only
    the shared state can tell it what was paid for."""
    outfit = await prepare_try_on(person, top, None, connections.archive)
    coarse_job = await submit_try_on_coarse.with_options(refresh_cache=True)(outfit, "emu")
    [done] = await poll_try_on_jobs([coarse_job], "emu")
    coarse = await archive_try_on_result(coarse_job, "emu", connections.archive, done)
    refine = submit_try_on_refiner.with_options(refresh_cache=True)
    refined_job = await refine(outfit, coarse, gender, "emu", connections.archive)
    [done] = await poll_try_on_jobs([refined_job], "emu")
    await archive_try_on_result(refined_job, "emu", connections.archive, done)
    return [coarse_job, refined_job]


@pytest.fixture
def postgres_state(postgres_url, monkeypatch) -> Iterator[str]:
    """The pack's state on the test PostgreSQL server, for this test only."""
    monkeypatch.setenv(STATE_URL_ENV, postgres_url)
    yield postgres_url
    # the lock manager's own loop keeps its connections: give them back while the URL is set
    STATE_LOCKS.close()


def test_try_on_on_postgresql_state_completes_and_a_second_run_pays_nothing(
    emu, connections, wardrobe, postgres_state, monkeypatch
):
    person, top = wardrobe
    first = asyncio.run(try_on(person, top, "woman", connections=connections))
    assert emu.counters.billable("ailabtools") == 2
    assert (first.attempts, first.possible_double_charges, first.repayments) == (2, 0, 0)
    shared = build_state(postgres_state)  # a store of its own, as another machine would have
    for job, ref in ((first.coarse_job, first.coarse), (first.refined_job, first.refined)):
        record = asyncio.run(shared.get(job.key))
        assert (record.state, record.task_id, record.archived_sha256) == (
            CallState.ARCHIVED,
            job.task_id,
            ref.sha256,
        )
        assert (record.vendor, record.action) == (VENDOR, job.action)
        assert asyncio.run(shared.staged(job.key)) is None  # archived: nothing left staged
    asyncio.run(shared.close())

    task_ids = [first.coarse_job.task_id, first.refined_job.task_id]
    polls = [emu.counters.polls(task_id) for task_id in task_ids]
    again = asyncio.run(try_on(person, top, "woman", connections=connections))
    assert (again.refined.sha256, again.attempts) == (first.refined.sha256, 2)
    jobs = asyncio.run(_another_machine(person, top, "woman", connections))
    assert [job.task_id for job in jobs] == task_ids
    assert emu.counters.billable("ailabtools") == 2  # neither re-run paid
    # the record says both are archived: not even a free poll was needed
    assert [emu.counters.polls(task_id) for task_id in task_ids] == polls
    with monkeypatch.context() as local:
        local.delenv(STATE_URL_ENV)
        assert asyncio.run(resolve_state().get(first.coarse_job.key)) is None  # not the files


@pytest.mark.parametrize("variant", ["html", "truncated"])
def test_a_corrupt_result_is_a_vendor_fault_never_archived_or_cached(
    emu, connections, wardrobe, variant
):
    person, top = wardrobe
    emu.inject("ailabtools", FaultKind.CORRUPT_RESULT, action="try-on-clothes-pro", variant=variant)
    with pytest.raises(BadResultError) as caught:
        asyncio.run(try_on(person, top, "man", connections=connections))
    assert caught.value.kind is ErrorKind.BAD_RESULT and not caught.value.transient
    assert emu.counters.billable("ailabtools") == 1  # the vendor charged it; nothing more
    outfit = asyncio.run(_prepare(person, top, connections.archive))
    store = resolve_state()
    record = asyncio.run(store.get(coarse_key(outfit)))
    assert record.state is CallState.SUBMITTED  # paid for; no result recorded, none archived
    assert (record.archived_key, record.staged_size) == (None, None)
    assert asyncio.run(store.staged(record.key)) is None
    # not cached either: a re-run checks the result again and fails the same way, unpaid
    with pytest.raises(BadResultError):
        asyncio.run(try_on(person, top, "man", connections=connections))
    assert emu.counters.billable("ailabtools") == 1
    assert asyncio.run(store.get(record.key)).state is CallState.SUBMITTED
