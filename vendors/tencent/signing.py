"""TC3-HMAC-SHA256 request signing for Tencent Cloud API 3.0, in small pure steps.

Each step is a function of its inputs only (no clock, no I/O), so the known-answer vectors in
``docs/signing.md#known-answer-vectors`` can be checked step by step, and the emulator recomputes
signatures with exactly the code the client uses. Reference: docs/signing.md#tencent-tc3.

Secrets never leave this module in any form but an HMAC digest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "ALGORITHM",
    "DEFAULT_SIGNED_HEADERS",
    "ParsedAuthorization",
    "TC3Signature",
    "authorization_header",
    "canonical_headers",
    "canonical_request",
    "credential_scope",
    "hash_payload",
    "parse_authorization",
    "sign",
    "signature",
    "signing_key",
    "string_to_sign",
    "utc_date",
]

ALGORITHM = "TC3-HMAC-SHA256"
TERMINATOR = "tc3_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# What the official Python SDK signs; the docs require at least these two.
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = ("content-type", "host")


def _sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def hash_payload(body: bytes) -> str:
    """Lowercase hex SHA-256 of the exact body bytes (``""`` hashes the empty GET body)."""
    return _sha256_hex(body)


def utc_date(timestamp: int) -> str:
    """The ``YYYY-MM-DD`` UTC date of a Unix timestamp, as the credential scope wants it."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def canonical_headers(headers: Mapping[str, str], signed_headers: Iterable[str]) -> str:
    """``name:value\\n`` for each signed header, names and values lower-cased and trimmed, sorted.

    Raises:
        KeyError: a header listed as signed is not present.
    """
    lowered = {name.lower().strip(): value for name, value in headers.items()}
    names = sorted(name.lower().strip() for name in signed_headers)
    return "".join(f"{name}:{lowered[name].strip().lower()}\n" for name in names)


def canonical_request(
    *,
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
) -> str:
    """Join the canonical request. Note the blank line: canonical headers end in ``\\n``."""
    names = sorted(name.lower().strip() for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            uri or "/",
            query,
            canonical_headers(headers, names),
            ";".join(names),
            payload_hash,
        ]
    )


def credential_scope(date: str, service: str) -> str:
    return f"{date}/{service}/{TERMINATOR}"


def string_to_sign(timestamp: int, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, str(timestamp), scope, _sha256_hex(canonical)])


def signing_key(secret_key: str, date: str, service: str) -> bytes:
    """Derive the signing key: HMAC chain over the date, the service and ``tc3_request``."""
    secret_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = _hmac(secret_date, service)
    return _hmac(secret_service, TERMINATOR)


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(
    secret_id: str, scope: str, signed_headers: Iterable[str], signature_hex: str
) -> str:
    names = ";".join(sorted(name.lower() for name in signed_headers))
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={names}, Signature={signature_hex}"
    )


@dataclass(frozen=True, slots=True)
class TC3Signature:
    """Every intermediate of one signature, so tests and debug logs can compare them."""

    canonical_request: str
    string_to_sign: str
    authorization: str


def sign(
    *,
    secret_id: str,
    secret_key: str,
    timestamp: int,
    service: str,
    headers: Mapping[str, str],
    body: bytes,
    method: str = "POST",
    uri: str = "/",
    query: str = "",
    signed_headers: Iterable[str] = DEFAULT_SIGNED_HEADERS,
    unsigned_payload: bool = False,
) -> TC3Signature:
    """Sign one request; ``headers`` must hold every header named in ``signed_headers``."""
    names = tuple(signed_headers)
    canonical = canonical_request(
        method=method,
        uri=uri,
        query=query,
        headers=headers,
        signed_headers=names,
        payload_hash=UNSIGNED_PAYLOAD if unsigned_payload else hash_payload(body),
    )
    date = utc_date(timestamp)
    scope = credential_scope(date, service)
    to_sign = string_to_sign(timestamp, scope, canonical)
    sig = signature(signing_key(secret_key, date, service), to_sign)
    return TC3Signature(canonical, to_sign, authorization_header(secret_id, scope, names, sig))


_AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z0-9]+)/tc3_request, "
    r"SignedHeaders=([a-z0-9\-;]+), Signature=([0-9a-f]{64})$"
)


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Parse an ``Authorization`` header; ``None`` when it is not in the TC3 format."""
    match = _AUTHORIZATION.match(value or "")
    if match is None:
        return None
    secret_id, date, service, names, sig = match.groups()
    return ParsedAuthorization(secret_id, date, service, tuple(names.split(";")), sig)
