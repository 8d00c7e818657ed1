"""The transition table as data, and the rules each transition applies (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prefect_image_edit.state import model
from prefect_image_edit.state.errors import IllegalTransition
from prefect_image_edit.state.model import (
    TRANSITIONS,
    CallState,
    PaidCall,
    RepaymentReason,
    apply,
)

S = CallState
ARGS = {
    "begin": {"call": PaidCall(key="k", vendor="tencent", action="Inpaint")},
    "record_repayment": {
        "call": PaidCall(key="k", vendor="tencent", action="Inpaint"),
        "reason": RepaymentReason.EXPIRED,
    },
    "mark_submitted": {"task_id": "t1"},
    "record_answer": {"result_url": "https://x/r.png"},
    "record_ambiguous_failure": {"error": "reset"},
    "mark_archived": {"uri": "s3://b/k", "object_key": "k", "sha256": "0" * 64},
    "mark_failed": {"error": "refused"},
    "mark_expired": {"error": "gone"},
}
EXPECTED_TABLE = {
    "begin": {None, S.IN_FLIGHT, S.FAILED},
    "record_repayment": {S.READY, S.SUBMITTED, S.ARCHIVED, S.EXPIRED, S.FAILED},
    "mark_submitted": {S.IN_FLIGHT},
    "record_answer": {S.IN_FLIGHT, S.SUBMITTED, S.READY, S.ARCHIVED},
    "record_ambiguous_failure": {S.IN_FLIGHT},
    "mark_archived": {S.READY, S.ARCHIVED},
    "mark_failed": {S.IN_FLIGHT, S.SUBMITTED, S.FAILED},
    "mark_expired": {S.READY, S.SUBMITTED, S.ARCHIVED, S.EXPIRED},
}
TARGET = {
    "begin": S.IN_FLIGHT,
    "record_repayment": S.IN_FLIGHT,
    "mark_submitted": S.SUBMITTED,
    "record_answer": S.READY,
    "mark_archived": S.ARCHIVED,
    "mark_failed": S.FAILED,
    "mark_expired": S.EXPIRED,
}


def _in(state: CallState | None) -> PaidCall | None:
    return None if state is None else PaidCall(key="k", vendor="v", action="a", state=state)


def test_the_table_is_the_documented_one():
    assert {name: set(states) for name, states in TRANSITIONS.items()} == EXPECTED_TABLE


@pytest.mark.parametrize("transition", sorted(TRANSITIONS))
@pytest.mark.parametrize("state", [None, *CallState], ids=lambda s: getattr(s, "value", "none"))
def test_every_move_is_legal_exactly_when_the_table_says(transition, state):
    current = _in(state)
    if state in TRANSITIONS[transition]:
        step = apply(transition, "k", current, **ARGS[transition])
        expected = TARGET.get(transition, state)  # an ambiguous failure keeps the state
        assert step.record.state is expected
    else:
        with pytest.raises(IllegalTransition) as caught:
            apply(transition, "k", current, **ARGS[transition])
        assert caught.value.transition == transition and caught.value.state == state
        assert transition in str(caught.value)


def test_a_resend_of_an_unanswered_request_counts_a_possible_double_charge():
    call = PaidCall(key="k", vendor="v", action="a", parameters={"seed": 1})
    first = apply("begin", "k", None, call=call).record
    assert (first.attempts, first.possible_double_charges) == (1, 0)
    failed = apply("record_ambiguous_failure", "k", first, error="reset", request_id="r1").record
    assert failed.state is S.IN_FLIGHT and failed.ambiguous_failures == 1
    resent = apply("begin", "k", failed, call=call).record
    assert (resent.attempts, resent.possible_double_charges, resent.error) == (2, 1, None)
    refused = apply("mark_failed", "k", resent, error="bad seed").record
    retried = apply("begin", "k", refused, call=call.model_copy(update={"parameters": {"s": 2}}))
    assert retried.record.possible_double_charges == 1  # a refusal was not billed
    assert retried.record.parameters == {"s": 2} and retried.record.request_ids == ["r1"]


def test_an_answer_stages_its_bytes_in_the_same_step_and_archiving_drops_them():
    started = apply("begin", "k", None, call=PaidCall(key="k", vendor="v", action="a")).record
    expires = datetime.now(UTC) + timedelta(hours=1)
    answered = apply(
        "record_answer",
        "k",
        started,
        data=b"png",
        result_url="u",
        expires_at=expires,
        request_id="r",
    )
    assert answered.stage == b"png" and not answered.drop_staged
    assert (answered.record.staged_size, answered.record.media_type) == (3, "image/png")
    assert answered.record.request_ids == ["r"] and answered.record.expires_at == expires
    refreshed = apply("record_answer", "k", answered.record, result_url="u2")
    assert refreshed.stage is None and refreshed.record.staged_size == 3  # bytes kept
    archived = apply(
        "mark_archived", "k", refreshed.record, uri="s3://b/x", object_key="x", sha256="f" * 64
    )
    assert archived.drop_staged and archived.record.staged_size is None
    assert archived.record.archived_uri == "s3://b/x"


@pytest.mark.parametrize("previous", [S.READY, S.SUBMITTED, S.ARCHIVED, S.EXPIRED])
def test_paying_again_for_a_paid_input_is_recorded_with_its_reason(previous):
    current = _in(previous).model_copy(
        update={"attempts": 1, "archived_uri": "s3://b/x", "result_url": "u", "task_id": "t"}
    )
    with pytest.raises(IllegalTransition, match="begin"):
        apply("begin", "k", current, call=ARGS["begin"]["call"])
    step = apply(
        "record_repayment",
        "k",
        current,
        call=ARGS["begin"]["call"],
        reason="archive_missing",
        detail="NoSuchKey",
    )
    record = step.record
    assert record.state is S.IN_FLIGHT and record.attempts == 2 and step.drop_staged
    [repayment] = record.repayments
    assert repayment.reason is RepaymentReason.ARCHIVE_MISSING
    assert (repayment.previous_state, repayment.detail) == (previous, "NoSuchKey")
    assert (record.archived_uri, record.result_url, record.task_id) == (None, None, None)


def test_a_poisoned_failure_is_paid_again_only_as_a_repayment():
    failed = apply("mark_failed", "k", _in(S.IN_FLIGHT), error="not an image", poisoned=True)
    assert failed.record.poisoned
    again = apply(
        "record_repayment", "k", failed.record, call=ARGS["begin"]["call"], reason="poisoned"
    )
    assert again.record.state is S.IN_FLIGHT and not again.record.poisoned
    assert [r.reason for r in again.record.repayments] == [RepaymentReason.POISONED]


def test_every_transition_has_a_rule():
    assert set(model._RULES) == set(TRANSITIONS) == set(ARGS)
