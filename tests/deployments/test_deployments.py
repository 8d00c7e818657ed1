"""Deployments: prefect.yaml and the serve entry agree with the flows, and the UI gets forms."""

from __future__ import annotations

import asyncio
import importlib
import typing
from pathlib import Path

import pytest
import yaml
from prefect import get_client
from prefect.flows import Flow
from pydantic import TypeAdapter

from prefect_image_edit.deployments.serve import build_deployments, ensure_vendor_limits
from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.flows.sweeper import archive_sweeper
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.tasks.limits import vendor_limits

PREFECT_YAML = Path(__file__).parents[2] / "deployments" / "prefect.yaml"
FLOWS = [erase, batch_erase, try_on, archive_sweeper]


def _load(entrypoint: str) -> Flow:
    module, name = entrypoint.split(":")
    return getattr(importlib.import_module(module), name)


def test_prefect_yaml_entrypoints_and_parameters_match_the_flows():
    spec = yaml.safe_load(PREFECT_YAML.read_text())
    yaml_names = {d["name"] for d in spec["deployments"]}
    served = build_deployments()
    assert yaml_names.isdisjoint(d.name for d in served), "a worker would pick up served runs"
    assert {d["flow_name"] for d in spec["deployments"]} == {d.flow_name for d in served}
    for deployment in spec["deployments"]:
        flow = _load(deployment["entrypoint"])
        assert isinstance(flow, Flow)
        assert flow.name == deployment["flow_name"]
        hints = typing.get_type_hints(flow.fn)
        for name, value in deployment.get("parameters", {}).items():
            TypeAdapter(hints[name]).validate_python(value)  # the UI would accept it
        for schedule in deployment.get("schedules", []):
            assert ("cron" in schedule) ^ ("interval" in schedule)


def test_served_deployments_use_module_entrypoints_and_schedules():
    deployments = {
        d.name.removesuffix("-served"): d for d in build_deployments({"tencent": "prod"})
    }
    assert deployments["archive-sweeper"].entrypoint == (
        "prefect_image_edit.flows.sweeper.archive_sweeper"
    )
    sweeper_schedule = deployments["archive-sweeper"].schedules[0].schedule
    assert sweeper_schedule.interval.total_seconds() == 600
    assert deployments["batch-erase"].schedules[0].active is False
    assert deployments["erase"].parameters == {"connections": {"tencent": "prod"}}
    assert all(d.enforce_parameter_schema for d in deployments.values())


def _undocumented(schema: dict) -> list[str]:
    missing = [
        f"{name}"
        for name, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    for definition, body in schema.get("definitions", {}).items():
        if not body.get("properties"):
            continue
        missing += [
            f"{definition}.{name}"
            for name, prop in body["properties"].items()
            if not prop.get("description")
        ]
    return missing


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_every_form_field_has_a_description(flow):
    schema = flow.parameters.model_dump()
    parameter_models = {
        "MaskOptions",
        "EraseSettings",
        "OutputOptions",
        "Connections",
        "BatchSource",
    }
    assert [m for m in _undocumented(schema) if m.split(".")[0] in parameter_models | {m}] == []


@pytest.mark.usefixtures("prefect_api")
def test_deployments_apply_to_a_real_api_and_limits_exist():
    deployments = build_deployments()  # to_deployment is sync outside an event loop

    async def main():
        limits = await ensure_vendor_limits()
        ids = [await deployment.apply() for deployment in deployments]
        async with get_client() as client:
            names = {(await client.read_deployment(i)).name for i in ids}
            sizes = {
                name: (await client.read_global_concurrency_limit_by_name(name)).limit
                for name, _ in vendor_limits().values()
            }
        return limits, names, sizes

    limits, names, sizes = asyncio.run(main())
    assert names == {
        "erase-served",
        "try-on-served",
        "batch-erase-served",
        "archive-sweeper-served",
    }
    assert sizes["image-edit:tencent-aiart"] == 1
    assert set(limits) == set(sizes)


def test_serve_warns_when_the_server_keeps_leases_in_memory(prefect_api):
    from prefect_image_edit.deployments.serve import FILESYSTEM_LEASES, check_lease_storage

    warning = asyncio.run(check_lease_storage())
    assert warning is not None  # the test server uses Prefect's in-memory default
    assert FILESYSTEM_LEASES in warning and "leaks" in warning
