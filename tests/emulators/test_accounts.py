"""Several accounts per vendor (``emulate --accounts N``): each its own keys and counters."""

from __future__ import annotations

import argparse

from prefect_image_edit.emulators import run_emulators
from prefect_image_edit.emulators.cli import add_emulate_parser


def test_every_vendor_holds_n_accounts_with_their_own_keys_after_a_reset_too():
    with run_emulators(accounts=3) as suite:
        suite.reset()
        info = suite.connection_info()
        assert len({a["api_key"] for a in info["ailabtools"]["accounts"]}) == 3
        assert len({a["secret_id"] for a in info["tencent"]["accounts"]}) == 3
        assert len({a["access_key_id"] for a in info["volcengine"]["accounts"]}) == 3
        assert info["tencent"]["accounts"][0]["secret_id"] == info["tencent"]["secret_id"]
        # Tencent's one job at a time holds per account
        assert all(
            suite.settings.tencent.concurrency_for(a.secret_id) == 1
            for a in suite.accounts("tencent")
        )
    with run_emulators() as suite:
        assert "accounts" not in suite.connection_info()["tencent"]


def test_the_emulate_command_takes_accounts():
    parser = argparse.ArgumentParser()
    add_emulate_parser(parser.add_subparsers())
    assert parser.parse_args(["emulate", "--accounts", "3"]).accounts == 3
