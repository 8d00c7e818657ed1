"""Archive keys and object metadata: pure functions, so their shape is pinned by tests.

Keys are content-addressed (``<prefix>/<vendor>/<sha256>.<ext>``): the same bytes always land
on the same key, which makes uploads idempotent and lets a re-run find what it already paid for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["archive_key", "extension_for", "media_type_for", "object_metadata"]

_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/gif": "gif",
    "application/json": "json",
    "application/jsonl": "jsonl",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# S3 user metadata travels in HTTP headers: ASCII only, and about 2 KB in all.
_MAX_VALUE = 512


def extension_for(media_type: str) -> str:
    """The file extension for a media type (``bin`` for unknown ones)."""
    return _EXTENSIONS.get(media_type.split(";", 1)[0].strip().lower(), "bin")


def media_type_for(key: str) -> str:
    ext = key.rsplit(".", 1)[-1].lower()
    for media_type, known in _EXTENSIONS.items():
        if known == ext:
            return media_type
    return "application/octet-stream"


def archive_key(prefix: str, vendor: str, sha256: str, media_type: str) -> str:
    """``<prefix>/<vendor>/<sha256>.<ext>``; ``prefix`` may be empty.

    Raises:
        ValueError: ``sha256`` is not 64 lowercase hex digits or ``vendor`` is not a plain name.
    """
    if not _SHA256.match(sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", vendor):
        raise ValueError(f"vendor must be a plain lowercase name, got {vendor!r}")
    parts = [p for p in prefix.strip("/").split("/") if p]
    return "/".join([*parts, vendor, f"{sha256}.{extension_for(media_type)}"])


def _ascii(value: Any) -> str:
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    else:
        text = str(value)
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text[:_MAX_VALUE]


def object_metadata(fields: Mapping[str, Any]) -> dict[str, str]:
    """S3 user metadata from a mapping: lowercase dashed keys, ASCII values, ``None`` dropped.

    docs/design.md#archive-metadata asks for vendor, action, request/task id, input hashes,
    parameters and times;
    callers pass those, and this function only makes them safe to send as headers.
    """
    out: dict[str, str] = {}
    for key, value in fields.items():
        if value is None:
            continue
        name = re.sub(r"[^a-z0-9-]", "-", key.lower().replace("_", "-"))
        out[name] = _ascii(value)
    return out
