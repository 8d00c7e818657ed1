"""What one "machine" of tests/cluster runs: ``batch-erase`` on Tencent, then a JSON summary.

Run as ``python machine_main.py '<job json>'`` with the machine's environment (its own
``PREFECT_HOME`` and ``PREFECT_IMAGE_EDIT_HOME``, the shared ``PREFECT_API_URL`` and maybe
``PREFECT_IMAGE_EDIT_STATE_URL``). The job names the image folder (masks in ``masks/`` under
it), the saved blocks and any other flow keyword. The last stdout line is
``CLUSTER-SUMMARY {...}``: state type and message, succeeded, failed, possible double charges
(summed over the rows) and the distinct errors, including the flow's own if it raised.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

SUMMARY_MARK = "CLUSTER-SUMMARY "


async def run(job: dict[str, Any]) -> dict[str, Any]:
    from prefect_image_edit.flows import BatchSource, Connections, batch_erase

    images = job.pop("images")
    source = BatchSource(images=images, masks=f"{images}/masks")
    connections = Connections(**job.pop("connections"))
    state = await batch_erase(
        source, provider="tencent", connections=connections, return_state=True, **job
    )
    out: dict[str, Any] = {"state": state.type.value, "message": state.message}
    try:
        summary = await state.aresult(raise_on_failure=False)
    except Exception as error:  # the flow itself raised: report it, as one line
        summary = None
        out["errors"] = [f"{type(error).__name__}: {error}"]
    if isinstance(summary, BaseException):
        out["errors"] = [f"{type(summary).__name__}: {summary}"]
        summary = None
    if summary is None:
        out.update(total=0, succeeded=0, failed=0, possible_double_charges=0)
        return out
    out.update(
        total=summary.total,
        succeeded=summary.succeeded,
        failed=summary.failed,
        possible_double_charges=sum(row.possible_double_charges for row in summary.rows),
        errors=sorted({f"{row.error_type}: {row.error}" for row in summary.rows if row.error}),
    )
    return out


def main() -> None:
    job = json.loads(sys.argv[1])
    try:
        out = asyncio.run(run(job))
    except Exception as error:  # e.g. the flow refused to start
        out = {"state": "CRASHED", "errors": [f"{type(error).__name__}: {error}"]}
        out.update(total=0, succeeded=0, failed=0, possible_double_charges=0)
    print(SUMMARY_MARK + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
