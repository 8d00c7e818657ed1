"""JobPoller against the real AILabTools emulator through the real AILabToolsClient.

Short task durations and a 0.1 s interval keep it to seconds of real time. The emulator counts
every query that names a task, so ``counters.polls(task_id)`` must equal the outcome's polls.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from PIL import Image

from prefect_image_edit.emulators import EmulatorSuite, FaultKind, run_emulators
from prefect_image_edit.polling import JobPoller, PollTarget, PollTimeout, deadline_for
from prefect_image_edit.vendors import AILabToolsClient, NotFoundError, TaskState

pytestmark = pytest.mark.anyio

QUEUED_S, PROCESSING_S = 0.2, 0.3
QUERY = "query-async-task-result"


def picture(size: tuple[int, int], fmt: str, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


PERSON = picture((200, 400), "PNG", (180, 150, 120))
TOP = picture((200, 200), "JPEG", (20, 60, 200))


@pytest.fixture(scope="module")
def suite() -> Iterator[EmulatorSuite]:
    with run_emulators(
        ailabtools={"task_queued_seconds": QUEUED_S, "task_processing_seconds": PROCESSING_S}
    ) as emu:
        yield emu


@pytest.fixture
async def client(suite: EmulatorSuite) -> AsyncIterator[AILabToolsClient]:
    suite.reset()
    endpoint = suite.ailabtools
    async with AILabToolsClient(endpoint.api_key, base_url=endpoint.base_url) as ailab:
        yield ailab
    suite.reset()


def poller(client: AILabToolsClient, **kw) -> JobPoller:
    return JobPoller(client.query_async_task, interval=0.1, max_interval=0.4, **kw)


async def test_polls_try_on_jobs_to_success(client, suite):
    submissions = await asyncio.gather(*(client.submit_try_on_pro(PERSON, TOP) for _ in range(4)))
    updates: dict[str, list[TaskState]] = {}
    outcomes = await poller(
        client, on_update=lambda tid, res: updates.setdefault(tid, []).append(res.state)
    ).run(PollTarget(s.task_id, deadline_for(s.submitted_at, timeout=30)) for s in submissions)
    assert set(outcomes) == {s.task_id for s in submissions}
    for task_id, outcome in outcomes.items():
        assert outcome.succeeded, outcome.error
        assert outcome.result is not None and outcome.result.image_url
        assert outcome.result.expires_at is not None
        assert outcome.polls == suite.counters.polls(task_id) == len(updates[task_id])
        assert outcome.transient_errors == 0
        states = updates[task_id]
        assert states[-1] is TaskState.SUCCEEDED
        assert TaskState.QUEUED in states or TaskState.PROCESSING in states
        # polled about every 0.1 s over at most 0.5 s of work: more than once, never a spin
        assert 2 <= outcome.polls <= 12


async def test_transient_query_errors_back_off_and_failed_tasks_are_results(client, suite):
    good = await client.submit_try_on_pro(PERSON, TOP)
    suite.inject("ailabtools", FaultKind.TASK_FAILURE)
    bad = await client.submit_try_on_pro(PERSON, TOP)
    suite.inject("ailabtools", FaultKind.SERVER_ERROR, times=2, action=QUERY)
    suite.inject("ailabtools", FaultKind.GATEWAY_ERROR, times=1, action=QUERY)
    deadline = deadline_for(good.submitted_at, timeout=30)
    outcomes = await poller(client).run(
        [PollTarget(good.task_id, deadline), PollTarget(bad.task_id, deadline)]
    )
    both = outcomes[good.task_id], outcomes[bad.task_id]
    assert sum(outcome.transient_errors for outcome in both) == 3
    assert both[0].succeeded
    assert both[1].result is not None and both[1].result.state is TaskState.FAILED
    assert both[1].error is None  # the vendor's verdict, not a polling failure
    for task_id, outcome in outcomes.items():
        assert outcome.polls == suite.counters.polls(task_id)


async def test_retention_passed_at_the_vendor_is_not_found(client, suite):
    """The vendor dropped the task before our deadline (its clock ran ahead): NotFoundError."""
    submission = await client.submit_try_on_pro(PERSON, TOP)
    suite.clock.advance(QUEUED_S + PROCESSING_S + 86400 + 1)
    target = PollTarget(submission.task_id, deadline_for(submission.submitted_at))
    outcome = (await poller(client).run([target]))[submission.task_id]
    assert isinstance(outcome.error, NotFoundError)
    assert (outcome.polls, outcome.transient_errors) == (1, 0)  # permanent: asked once
    assert suite.counters.polls(submission.task_id) == 1


async def test_retention_deadline_passing_first_is_poll_timeout(client, suite):
    """Our deadline (submission + retention) comes before the end: PollTimeout, last state."""
    suite.settings.ailabtools.task_processing_seconds = 60.0
    submission = await client.submit_try_on_pro(PERSON, TOP)
    deadline = deadline_for(submission.submitted_at, retention=0.8)
    assert deadline > datetime.now(UTC)
    outcome = (await poller(client).run([PollTarget(submission.task_id, deadline)]))[
        submission.task_id
    ]
    error = outcome.error
    assert isinstance(error, PollTimeout)
    assert error.last_state in (TaskState.QUEUED, TaskState.PROCESSING)
    assert outcome.finished_at >= deadline
    assert error.polls == outcome.polls == suite.counters.polls(submission.task_id) >= 3
