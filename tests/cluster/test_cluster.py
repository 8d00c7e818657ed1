"""Never pay twice on any number of machines (issue 8), with real servers on 127.0.0.1.

Each machine is a subprocess with its own homes, sharing one ``prefect server start`` on
PostgreSQL, one PostgreSQL state, one SeaweedFS bucket and the emulators (see conftest.py).
Each test uses images no other test has seen and a state database of its own.
"""

from __future__ import annotations

import shutil
import time

import pytest

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.state.errors import mask_url
from prefect_image_edit.testing import PostgresServer

from .conftest import (
    HOLD_SLOT,
    TENCENT_LATENCY_S,
    TENCENT_LIMIT,
    state_records,
    wait_for,
    write_images,
)

pytestmark = pytest.mark.slow

TENCENT_ACTION = "ImageInpaintingRemoval"


def _all_done(summary: dict, count: int) -> None:
    assert (summary["succeeded"], summary["failed"]) == (count, 0), summary


def _copy_items(source, target, names):
    (target / "masks").mkdir(parents=True)
    for name in names:
        shutil.copy(source / f"{name}.jpg", target / f"{name}.jpg")
        shutil.copy(source / "masks" / f"{name}.png", target / "masks" / f"{name}.png")
    return target


# -- 1. every input billed once across machines ----------------------------------------------


def test_two_machines_at_once_bill_each_input_once_and_a_third_bills_nothing(
    cluster, make_images, cluster_report
):
    count = 20
    images = make_images(count)
    state = cluster.fresh_state()
    runs = [
        cluster.machine(state_url=state).start_batch(images, cluster.connections),
        cluster.machine(state_url=state).start_batch(images, cluster.connections),
    ]
    summaries = [run.wait() for run in runs]
    billed_two = cluster.billed()
    cluster_report.add(f"2 machines at once, same {count} images: billed", billed_two, count)

    cluster.release_dead_slots()
    third = cluster.machine(state_url=state).run_batch(images, cluster.connections)
    billed_third = cluster.billed() - billed_two
    cluster_report.add("then a 3rd machine, same images: billed", f"+{billed_third}", "+0")

    for summary in [*summaries, third]:
        _all_done(summary, count)
    assert billed_two == count
    assert billed_third == 0
    assert sum(s["possible_double_charges"] for s in [*summaries, third]) == 0
    records = state_records(state)
    assert len(records) == count
    assert {(r["state"], r["attempts"]) for r in records} == {("archived", 1)}


def test_embedded_backend_still_bills_once_on_one_machine(cluster, make_images, cluster_report):
    """No state URL: today's files and flock, one machine, run twice."""
    count = 4
    images = make_images(count)
    machine = cluster.machine()  # no PREFECT_IMAGE_EDIT_STATE_URL
    first = machine.run_batch(images, cluster.connections)
    billed_first = cluster.billed()
    cluster.release_dead_slots()
    second = machine.run_batch(images, cluster.connections)
    billed_second = cluster.billed() - billed_first
    cluster_report.add(
        f"embedded state, 1 machine twice, {count} images: billed",
        f"{billed_first} then +{billed_second}",
        f"{count} then +0",
    )
    _all_done(first, count)
    _all_done(second, count)
    assert billed_first == count
    assert billed_second == 0


# -- 2. three machines at once: billed once, Tencent's limit of 1 held -----------------------


@pytest.fixture(scope="module")
def three_machines(cluster_session, tmp_path_factory):
    """Three machines at once on the same images, run once for the two tests below."""
    emu = cluster_session.emulators
    emu.reset()
    emu.settings.tencent.latency = TENCENT_LATENCY_S
    count = 12
    folder = tmp_path_factory.mktemp("three")
    images = write_images(folder, count)
    state = cluster_session.fresh_state()
    try:
        runs = [
            cluster_session.machine(state_url=state).start_batch(
                images, cluster_session.connections
            )
            for _ in range(3)
        ]
        summaries = [run.wait() for run in runs]
    finally:
        cluster_session.kill_machines()
        cluster_session.release_dead_slots()
    return {
        "count": count,
        "summaries": summaries,
        "billed": emu.counters.billable("tencent"),
        "max_in_flight": emu.counters.max_in_flight("tencent"),
    }


def test_three_machines_at_once_bill_each_input_once(three_machines, cluster_report):
    count = three_machines["count"]
    cluster_report.add(
        f"3 machines at once, same {count} images: billed", three_machines["billed"], count
    )
    for summary in three_machines["summaries"]:
        _all_done(summary, count)
    assert three_machines["billed"] == count


def test_tencent_limit_of_one_holds_across_machines(three_machines, cluster_report):
    cluster_report.add(
        "3 machines at once: Tencent calls in flight at most",
        three_machines["max_in_flight"],
        1,
    )
    assert three_machines["max_in_flight"] == 1


# -- 3. a machine killed mid-call ------------------------------------------------------------


def test_machine_killed_mid_call_another_finishes_and_the_extra_charge_is_recorded(
    cluster, make_images, cluster_report
):
    count = 6
    images = make_images(count)
    state = cluster.fresh_state()
    emu = cluster.emulators
    victim = cluster.machine("victim", state_url=state).start_batch(
        images, cluster.connections, max_concurrency=2
    )
    wait_for(lambda: cluster.billed() >= 2, 120, "the victim to pay for two items")
    # The slow fault: the next paid call takes 4 s before its answer; kill the victim during it.
    emu.inject("tencent", FaultKind.SLOW, times=1, action=TENCENT_ACTION, delay=4.0)
    wait_for(
        lambda: (
            not emu.state.faults.pending("tencent")
            and emu.counters.current_in_flight("tencent") >= 1
        ),
        30,
        "the slow call to be in flight",
        interval=0.02,
    )
    records = state_records(state)
    in_flight_at_kill = sum(r["state"] == "in_flight" for r in records)
    victim.kill()
    assert victim.process.returncode == -9

    # The killed request goes on at the vendor and is billed there, as a real one would be.
    wait_for(lambda: emu.counters.current_in_flight("tencent") == 0, 30, "the orphaned call to end")
    # Its Prefect slot would come back only after the 60 s lease plus the server's 15 s
    # repossessor loop (measured below, in the slow test). Here the dead holder's lease is
    # released through the API at once (what `prefect gcl update NAME --active-slots 0` does,
    # but revoking the lease too, so the repossessor cannot take a slot back from a live
    # holder later). The limit stays 1.
    cluster.prefect.release_leases(TENCENT_LIMIT)
    assert cluster.prefect.active_slots(TENCENT_LIMIT) == 0

    survivor = cluster.machine("survivor", state_url=state).run_batch(images, cluster.connections)
    billed = cluster.billed()
    extra = billed - count
    recorded = sum(r.get("possible_double_charges", 0) for r in state_records(state))
    cluster_report.add(
        f"machine SIGKILLed mid-call, {count} images, then another finishes",
        f"billed {billed} (+{extra}); in flight at kill {in_flight_at_kill}; "
        f"recorded possible double charges {recorded}",
        f"+extra <= in flight at kill; recorded == +extra; survivor reported "
        f"{survivor['possible_double_charges']}",
    )
    _all_done(survivor, count)
    assert in_flight_at_kill >= 1, "the state did not record the call in flight"
    assert 0 <= extra <= in_flight_at_kill
    assert recorded == extra


# -- 4. the state database down --------------------------------------------------------------


def test_state_down_bills_nothing_and_the_rerun_pays_only_what_was_never_paid(
    cluster, make_images, tmp_path, cluster_report
):
    count = 4
    images = make_images(count)
    first_half = _copy_items(images, tmp_path / "half", ["item-00", "item-01"])
    # A PostgreSQL of its own for the state, so stopping it leaves the Prefect server's alone.
    with PostgresServer() as postgres:
        state = postgres.url
        machine = cluster.machine(state_url=state)
        _all_done(machine.run_batch(first_half, cluster.connections), 2)
        assert cluster.billed() == 2
        cluster.release_dead_slots()

        postgres.stop()
        down = machine.start_batch(images, cluster.connections)
        summary = down.wait()
        billed_down = cluster.billed() - 2

        postgres.start()
        cluster.release_dead_slots()
        again = machine.run_batch(images, cluster.connections)
        billed_again = cluster.billed() - 2 - billed_down
        cluster_report.add(
            f"state PostgreSQL down, {count} images (2 paid before): billed down / after",
            f"+{billed_down} / +{billed_again}",
            "+0 / +2",
        )

        masked = mask_url(state)
        assert postgres.password not in down.stdout + down.stderr
        assert summary["state"] in ("FAILED", "CRASHED"), summary
        assert summary["succeeded"] == 0, summary
        assert billed_down == 0
        naming = [e for e in summary.get("errors", []) if masked in e]
        assert naming, f"no error names {masked}: {summary}"
        assert all("\n" not in e for e in naming), naming
        _all_done(again, count)
        assert billed_again == 2
        # nothing lost: the two paid before the outage were reused, not paid again
        records = state_records(state)
        assert len(records) == count
        assert {(r["state"], r["attempts"]) for r in records} == {("archived", 1)}


def test_a_machine_that_exits_gives_its_slot_back(cluster, make_images, cluster_report):
    """A finished worker must not leave its vendor slot leased: with one process per flow run
    (process, Docker and Kubernetes pools) every other machine would wait for it to expire."""
    images = make_images(2)
    cluster.release_dead_slots()
    summary = cluster.machine(state_url=cluster.fresh_state()).run_batch(
        images, cluster.connections
    )
    _all_done(summary, 2)
    exited = time.monotonic()
    try:
        wait_for(
            lambda: cluster.prefect.active_slots(TENCENT_LIMIT) == 0,
            10,
            "the exited machine's Tencent slot to be free",
            interval=0.2,
        )
        freed = f"{time.monotonic() - exited:.1f} s after exit"
    except AssertionError:
        freed = f"still leased 10 s after exit ({len(cluster.prefect.leases(TENCENT_LIMIT))})"
        raise
    finally:
        cluster_report.add("a machine that exits: its Tencent slot is free", freed, "at once")


# -- 5. a Prefect server restart while a slot is held ----------------------------------------


def test_prefect_server_restart_while_a_slot_is_held_leaks_no_slot(cluster, tmp_path):
    name = "cluster-restart-probe"
    server = cluster.prefect
    server.create_limit(name, 1)
    server.set_active_slots(name, 0)
    release = tmp_path / "release"
    holder = cluster.machine("holder").popen(["-c", HOLD_SLOT, name, str(release), "300"])
    try:
        wait_for(lambda: server.active_slots(name) == 1, 60, "the holder to take the slot")
        server.restart()
        assert server.active_slots(name) == 1  # still held: its holder is alive
        assert len(server.leases(name)) == 1
        release.touch()
        stdout, stderr = holder.communicate(timeout=60)
        assert holder.returncode == 0, stderr[-3000:]
        assert "RELEASED" in stdout
        wait_for(lambda: server.active_slots(name) == 0, 30, "the slot to be free again")
        assert server.leases(name) == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


# -- how long a dead worker's slot takes to return (about 75 s: slow) ------------------------


def test_dead_workers_slot_returns_after_its_lease(cluster, cluster_report):
    """Measured in the background from the start of the session (see ``DeadWorkerProbe``),
    so its minute of waiting overlaps the other tests."""
    probe = cluster.dead_worker_probe
    waited = probe.result(timeout=200)
    restarts = f" ({probe.restarts} server restart(s) meanwhile)" if probe.restarts else ""
    cluster_report.add(
        f"a SIGKILLed worker's slot returns after (lease {probe.lease:.0f} s)",
        f"{waited:.0f} s{restarts}",
        "lease + up to 15 s (the server's repossessor loop)",
    )
    assert waited <= probe.lease + 30
