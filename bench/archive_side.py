"""One side of the archive figure, in a fresh process: upload one file, report time and memory.

``pack``: the pack's archiver (``prefect_image_edit.archive``): the result streamed in 1 MiB
chunks into a spool and hashed as a download arrives (``download_to_spool`` does this while the
vendor's bytes come in), then uploaded under its content key and verified. ``boto3``:
``upload_file`` of the same file. Both clocks start with the bytes on local disk (the script's
download wrote its file before its clock, the pack's filled its spool), so the time compares
the two uploads. Extra memory is the peak resident set minus the resident set before the
spool is filled (after imports and client set-up), so the pack's figure covers the download
side too; read from the kernel so C allocations count.

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
    reset = _reset_peak()
    before = _status_kib("VmRSS")
    if side == "pack":
        from prefect_image_edit.archive import S3Store
        from prefect_image_edit.archive.archiver import archive_spool, new_spool

        store = S3Store(client, bucket)
        with new_spool() as spool:
            for chunk in _chunks(path):  # as a download arrives: before the clock, like
                spool.write(chunk)  # the file boto3 uploads, but inside the memory figure
            started = time.perf_counter()
            archive_spool(
                store, spool, prefix="bench", vendor="bench",
                media_type="image/png", metadata={"source": "bench"},
            )  # fmt: skip
            seconds = time.perf_counter() - started
    else:
        started = time.perf_counter()
        client.upload_file(str(path), bucket, f"bench-boto3/{path.name}")
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
