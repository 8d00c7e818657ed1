"""``prefect-image-edit bench``: the harness starts its servers, stops them, writes valid JSON.

The end-to-end case runs two cheap figures at tiny sizes (a 3-item batch on a real Prefect
server, emulators and SeaweedFS; a 2 MB archive upload) through the real command line, then
checks every server it reported is gone. The other cases are pure (table, JSON, sizes).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_image_edit.bench.figures import QUICK, Sizes
from prefect_image_edit.bench.report import Row, Target, info, markdown_table, write_json

COMMAND = [sys.executable, "-c", "import sys; from prefect_image_edit.cli import main; "
           "sys.exit(main())", "bench"]  # fmt: skip


def _port_open(url: str) -> bool:
    host, port = re.match(r"https?://([^:/]+):(\d+)", url).groups()
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text()[:80]


@pytest.mark.slow
def test_bench_quick_runs_two_figures_and_stops_every_server(tmp_path):
    out = tmp_path / "bench.json"
    sizes = "batch_n=3,floor_latency=0.2,archive_mb=2,archive_reps=1"
    done = subprocess.run(
        [*COMMAND, "--quick", "--only", "floor,archive", "--sizes", sizes, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    rows = json.loads(out.read_text())
    assert {r["name"] for r in rows} >= {
        "floor.wall_over_floor",
        "archive.throughput_ratio",
        "archive.extra_peak_mib",
    }
    for row in rows:
        assert set(row) == {"name", "value", "unit", "target", "meets_target"}
        assert row["value"] is None or isinstance(row["value"], int | float)
    wall = next(r for r in rows if r["name"] == "floor.wall_over_floor")
    assert wall["value"] > 0 and wall["meets_target"] in (True, False)
    assert "| figure | pack | baseline |" in done.stdout

    # every server the harness reported is stopped
    prefect = re.search(r"prefect server up at (\S+) \(pid (\d+)\)", done.stderr)
    seaweed = re.search(r"seaweedfs up at (\S+)", done.stderr)
    tencent = re.search(r"emulators up \(tencent at (\S+)\)", done.stderr)
    assert prefect and seaweed and tencent, done.stderr[-3000:]
    assert not _alive(int(prefect.group(2)))
    for url in (prefect.group(1), seaweed.group(1), tencent.group(1)):
        assert not _port_open(url), f"{url} still answers"


def test_table_and_json_say_what_met_its_target(tmp_path):
    rows = [
        Row("a.ratio", 1.2, "x", Target(">=", 1.0), figure="(1) a", pack="1 s", baseline="2 s"),
        Row("b.ms", 50.0, "ms/item", Target("<=", 10.0), figure="(3) b"),
        Row("c.none", None, "x", Target("<=", 2.0), figure="(4) c", note="proxy failed"),
        info("a.raw", 3.0, "s"),
    ]
    table = markdown_table(rows)
    assert "| (1) a | 1 s | 2 s | 1.2 x | >= 1 | yes |" in table
    assert "| (3) b | - | - | 50 ms/item | <= 10 | **no** |" in table
    assert "| (4) c | - | - | not measured | <= 2 | **not measured** |" in table
    assert "- (4) c: proxy failed" in table
    assert "a.raw" not in table

    path = tmp_path / "out.json"
    write_json(rows, path)
    data = json.loads(path.read_text())
    assert [d["meets_target"] for d in data] == [True, False, False, None]  # missing: not met
    assert data[0]["target"] == ">= 1" and data[3]["target"] is None


def test_sizes_override_changes_only_named_fields():
    sizes = QUICK.override("batch_n=4,floor_latency=0.25")
    assert (sizes.batch_n, sizes.floor_latency, sizes.count_n) == (4, 0.25, QUICK.count_n)
    with pytest.raises(ValueError, match="unknown size"):
        Sizes().override("nope=1")
