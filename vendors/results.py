"""What every vendor call returns: enough to use the result and to trace its charge.

Results are small frozen pydantic models. Image bytes are kept out of ``repr`` so a result can
be logged; URLs carry ``expires_at`` so that whoever holds one knows how long it is good for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EraseResult",
    "TaskResult",
    "TaskState",
    "TaskSubmission",
    "result_url_expiry",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def result_url_expiry(url: str, *, vendor: str, received_at: datetime) -> datetime:
    """When a result URL stops working.

    Read from the URL where the vendor encodes it (Tencent COS ``q-sign-time`` end, Volcengine
    ``x-expires``, Aliyun OSS ``Expires``), else ``received_at`` plus the vendor's TTL.
    """
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    window = (query.get("q-sign-time") or query.get("q-key-time") or [None])[0]
    if window and ";" in window:
        end = window.split(";", 1)[1]
        if end.isdigit():
            return datetime.fromtimestamp(int(end), UTC)
    for name in ("x-expires", "Expires"):
        value = (query.get(name) or [None])[0]
        if value and value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
    from prefect_image_edit.vendors import registry

    return received_at + timedelta(seconds=registry.get(vendor).result_ttl_seconds)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)

    vendor: str = Field(description="Vendor name: ailabtools, tencent or volcengine.")
    action: str = Field(description="The vendor API action that produced this result.")
    request_id: str | None = Field(default=None, description="Vendor request id (or log id).")
    received_at: datetime = Field(default_factory=utcnow, description="When the answer arrived.")


class EraseResult(_Result):
    """The answer of a synchronous erase call: image bytes, a result URL, or both."""

    image_bytes: bytes | None = Field(default=None, repr=False, description="Result image.")
    image_url: str | None = Field(default=None, description="Result URL; expires.")
    expires_at: datetime | None = Field(default=None, description="When image_url expires.")
    seed: int | None = Field(default=None, description="The seed sent, when the API takes one.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The canonical parameters sent (no image data)."
    )
    input_sha256: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 hex digest of each image sent as data, by argument name.",
    )


class TaskSubmission(_Result):
    """An accepted asynchronous job. Persist ``task_id`` at once: it is what was paid for."""

    task_id: str = Field(description="The vendor's async task id.")
    submitted_at: datetime = Field(default_factory=utcnow, description="When it was accepted.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The canonical parameters sent (no image data)."
    )
    input_sha256: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 hex digest of each image sent as data, by argument name.",
    )


class TaskState(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


class TaskResult(_Result):
    """One poll of an async task, normalised across the vendor's status vocabularies."""

    task_id: str = Field(description="The vendor's async task id.")
    state: TaskState = Field(description="Normalised task state.")
    vendor_status: str = Field(default="", description="The vendor's raw status, for debugging.")
    image_url: str | None = Field(default=None, description="Result URL once succeeded.")
    expires_at: datetime | None = Field(default=None, description="When image_url expires.")
    error_code: str | None = Field(default=None, description="Vendor error code when failed.")
    error_message: str | None = Field(default=None, description="Vendor message when failed.")
