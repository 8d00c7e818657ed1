"""Account pools (issue 11): several Tencent accounts used as one, each at most one job at a
time, and an account out of credits dropped while the batch completes on the others."""

from __future__ import annotations

import asyncio
import time

import pytest

from prefect_image_edit.blocks import TencentCloudCredentials
from prefect_image_edit.emulators import FaultKind, run_emulators
from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.tasks.batch_items import BatchSource

ACCOUNTS = 3
LATENCY = 0.4


@pytest.fixture(scope="module")
def pool_emulators():
    with run_emulators(accounts=ACCOUNTS, tencent={"latency": LATENCY}) as suite:
        yield suite


@pytest.fixture
def pool_emu(pool_emulators):
    pool_emulators.reset()
    yield pool_emulators
    pool_emulators.reset()


@pytest.fixture(scope="module")
def pool_connections(connections, pool_emulators) -> tuple[Connections, Connections, list[str]]:
    """(one account, a pool of three, the accounts' SecretIds) on the pool emulators."""
    names, ids = [], []
    for i, account in enumerate(pool_emulators.accounts("tencent")):
        name = f"pool-{i}"
        TencentCloudCredentials(
            secret_id=account.secret_id,
            secret_key=account.secret_key,
            endpoint_url=account.base_url,
        ).save(name, overwrite=True)
        names.append(name)
        ids.append(account.secret_id)
    single = Connections(tencent=names[0], archive=connections.archive)
    pooled = Connections(tencent=names[0], pools={"tencent": names}, archive=connections.archive)
    return single, pooled, ids


def _folder(make_scene, tmp_path, name: str, count: int) -> BatchSource:
    images, masks = tmp_path / name / "images", tmp_path / name / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i in range(count):
        image, mask = make_scene(f"{name}-{i:02d}")
        image.rename(images / image.name)
        mask.rename(masks / image.with_suffix(".png").name)
    return BatchSource(images=str(images), masks=str(masks))


def _batch(source, connections):
    started = time.monotonic()
    state = asyncio.run(
        batch_erase(
            source,
            provider="tencent",
            max_concurrency=9,
            connections=connections,
            return_state=True,
        )
    )
    return state, asyncio.run(state.aresult(raise_on_failure=False)), time.monotonic() - started


def test_a_pool_of_three_runs_one_job_per_account_at_three_times_the_pace(
    pool_emu, pool_connections, make_scene, tmp_path
):
    single, pooled, ids = pool_connections
    state, _, one_account = _batch(_folder(make_scene, tmp_path, "one", 30), single)
    assert state.is_completed(), state.message
    assert pool_emu.counters.billable("tencent") == 30
    assert pool_emu.counters.max_in_flight("tencent") == 1

    pool_emu.reset()
    state, _, three_accounts = _batch(_folder(make_scene, tmp_path, "pool", 30), pooled)
    assert state.is_completed(), state.message
    assert pool_emu.counters.billable("tencent") == 30
    ratio = one_account / three_accounts
    per_account = [pool_emu.counters.billable("tencent", account=i) for i in ids]
    print(f"\nper account {per_account}; one {one_account:.1f} s, pool {three_accounts:.1f} s")
    for secret_id in ids:
        assert pool_emu.counters.max_in_flight("tencent", secret_id) == 1
        assert pool_emu.counters.billable("tencent", account=secret_id) >= 3  # spread out
    assert pool_emu.counters.max_in_flight("tencent") == ACCOUNTS
    print(
        f"\n30 items: one account {one_account:.1f} s, pool of 3 {three_accounts:.1f} s, "
        f"throughput ratio {ratio:.2f}"
    )
    assert ratio > 1.8


def test_an_account_out_of_credits_is_dropped_and_the_batch_completes_on_the_others(
    pool_emu, pool_connections, make_scene, tmp_path
):
    _, pooled, ids = pool_connections
    pool_emu.inject("tencent", FaultKind.ARREARS, times=None, account=ids[1])
    state, summary, _ = _batch(_folder(make_scene, tmp_path, "arrears", 12), pooled)
    assert state.is_completed(), state.message
    assert (summary.succeeded, summary.failed) == (12, 0)
    assert pool_emu.counters.billable("tencent", account=ids[1]) == 0
    assert pool_emu.counters.billable("tencent") == 12
    assert summary.spend.calls == 12  # the refused request was not counted as spent


def test_a_pool_with_every_account_dropped_falls_back_like_one_account_out_of_credits(
    pool_emu, pool_connections, make_scene, tmp_path
):
    _, pooled, _ = pool_connections
    pool_emu.inject("tencent", FaultKind.ARREARS, times=None)  # every account
    source = _folder(make_scene, tmp_path, "broke", 4)
    state = asyncio.run(
        batch_erase(
            source,
            provider="tencent",
            fallback=["local"],
            max_concurrency=4,
            connections=pooled,
            return_state=True,
        )
    )
    summary = asyncio.run(state.aresult(raise_on_failure=False))
    assert state.is_completed(), state.message
    assert {row.provider for row in summary.rows} == {"local"}
    assert pool_emu.counters.billable("tencent") == 0
    assert summary.spend.calls == 0
