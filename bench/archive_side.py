"""One side of the archive figure, in a fresh process: upload one file, report time and memory.

``pack``: the pack's archiver (``prefect_image_edit.archive``): the result streamed in 1 MiB
chunks (as a download arrives) into a spool, hashed, uploaded under its content key, verified.
``boto3``: ``upload_file`` of the same file. Extra memory is the peak resident set during the
upload minus the resident set just before it (after imports and client set-up), read from the
kernel so C allocations count.

Usage: ``python -m prefect_image_edit.bench.archive_side pack|boto3 FILE BUCKET``; S3 endpoint
and keys come from BENCH_S3_ENDPOINT and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["main"]

CHUNK = 1024 * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _client():
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ["BENCH_S3_ENDPOINT"],
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def main(argv: list[str] | None = None) -> int:
    side, file, bucket = (sys.argv[1:] if argv is None else argv)[:3]
    path = Path(file)
    client = _client()
    client.head_bucket(Bucket=bucket)  # connection and credentials warmed on both sides
    if side == "pack":
        from prefect_image_edit.archive import S3Store, archive_stream

        store = S3Store(client, bucket)

        def upload() -> None:
            archive_stream(
                store, _chunks(path), prefix="bench", vendor="bench",
                media_type="image/png", metadata={"source": "bench"},
            )  # fmt: skip
    else:

        def upload() -> None:
            client.upload_file(str(path), bucket, f"bench-boto3/{path.name}")

    reset = _reset_peak()
    before = _status_kib("VmRSS")
    started = time.perf_counter()
    upload()
    seconds = time.perf_counter() - started
    peak = _status_kib("VmHWM")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "bytes": path.stat().st_size,
                "extra_peak_mib": max(0, peak - before) / 1024 if reset else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
