"""Volcengine "SignerV4" HMAC-SHA256 request signing, in small pure steps.

Each step is a function of its inputs only (no clock, no I/O), so the known-answer vectors in
``docs/signing.md#known-answer-vectors`` can be checked step by step, and the emulator recomputes
signatures with exactly the code the client uses. Reference: docs/signing.md#volcengine-signerv4.

Differences from Tencent's TC3 worth remembering: the raw secret key starts the HMAC chain (no
prefix); header values are trimmed but not lower-cased; the query string is part of the
canonical request (Action and Version live there); the scope carries the region.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

__all__ = [
    "ALGORITHM",
    "ParsedAuthorization",
    "VolcSignature",
    "authorization_header",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "credential_scope",
    "format_x_date",
    "hash_payload",
    "parse_authorization",
    "parse_x_date",
    "sign",
    "signature",
    "signed_header_names",
    "signing_key",
    "string_to_sign",
]

ALGORITHM = "HMAC-SHA256"
TERMINATOR = "request"
X_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def hash_payload(body: bytes) -> str:
    return _sha256_hex(body)


def format_x_date(moment: datetime) -> str:
    """``X-Date`` for an aware UTC datetime, e.g. ``20231114T221320Z``."""
    return moment.strftime(X_DATE_FORMAT)


def parse_x_date(value: str) -> datetime | None:
    """Parse an ``X-Date`` header as an aware UTC datetime; ``None`` when malformed."""
    try:
        return datetime.strptime(value, X_DATE_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def canonical_uri(path: str) -> str:
    return quote(path or "/", safe="/-_.~") or "/"


def canonical_query(params: Mapping[str, str | Iterable[str]]) -> str:
    """Keys sorted by ASCII; keys and values percent-encoded with ``-_.~`` safe; lists repeat."""
    pairs: list[str] = []
    for key in sorted(params):
        value = params[key]
        values = [value] if isinstance(value, str) else sorted(value)
        for item in values:
            pairs.append(f"{quote(key, safe='-_.~')}={quote(item, safe='-_.~')}")
    return "&".join(pairs)


def signed_header_names(headers: Iterable[str]) -> tuple[str, ...]:
    """The SDK's rule: Content-Type, Content-Md5, Host and every ``X-`` header, lower-cased."""
    names = {
        name.lower()
        for name in headers
        if name.lower() in {"content-type", "content-md5", "host"} or name.lower().startswith("x-")
    }
    return tuple(sorted(names))


def _strip_default_port(host: str) -> str:
    for suffix in (":80", ":443"):
        if host.endswith(suffix):
            return host[: -len(suffix)]
    return host


def canonical_headers(headers: Mapping[str, str], signed_headers: Iterable[str]) -> str:
    """``name:value\\n`` for each signed header: names lower-cased, values trimmed (case kept).

    Raises:
        KeyError: a header listed as signed is not present.
    """
    lowered = {name.lower().strip(): value for name, value in headers.items()}
    lines = []
    for name in sorted(n.lower().strip() for n in signed_headers):
        value = " ".join(lowered[name].split())
        if name == "host":
            value = _strip_default_port(value)
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(
    *,
    method: str,
    path: str,
    query: Mapping[str, str | Iterable[str]],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
) -> str:
    names = sorted(name.lower().strip() for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers(headers, names),
            ";".join(names),
            payload_hash,
        ]
    )


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/{TERMINATOR}"


def string_to_sign(x_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, x_date, scope, _sha256_hex(canonical)])


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """HMAC chain: the raw secret key over the date, region, service and ``request``."""
    k_date = _hmac(secret_key.encode("utf-8"), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, TERMINATOR)


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(
    access_key: str, scope: str, signed_headers: Iterable[str], signature_hex: str
) -> str:
    names = ";".join(sorted(name.lower() for name in signed_headers))
    return (
        f"{ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature_hex}"
    )


@dataclass(frozen=True, slots=True)
class VolcSignature:
    """Every intermediate of one signature, so tests and debug logs can compare them."""

    canonical_request: str
    string_to_sign: str
    authorization: str


def sign(
    *,
    access_key: str,
    secret_key: str,
    x_date: str,
    region: str,
    service: str,
    headers: Mapping[str, str],
    body: bytes,
    method: str = "POST",
    path: str = "/",
    query: Mapping[str, str | Iterable[str]] | None = None,
    signed_headers: Iterable[str] | None = None,
) -> VolcSignature:
    """Sign one request. ``headers`` must already hold ``X-Date`` (and ``X-Content-Sha256``,
    ``X-Security-Token`` when used); by default every header the SDK rule names is signed."""
    names = tuple(signed_headers) if signed_headers is not None else signed_header_names(headers)
    canonical = canonical_request(
        method=method,
        path=path,
        query=query or {},
        headers=headers,
        signed_headers=names,
        payload_hash=hash_payload(body),
    )
    date = x_date[:8]
    scope = credential_scope(date, region, service)
    to_sign = string_to_sign(x_date, scope, canonical)
    sig = signature(signing_key(secret_key, date, region, service), to_sign)
    return VolcSignature(canonical, to_sign, authorization_header(access_key, scope, names, sig))


_AUTHORIZATION = re.compile(
    r"^HMAC-SHA256 Credential=([^/]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9_-]+)/request, "
    r"SignedHeaders=([a-z0-9\-;]+), Signature=([0-9a-f]{64})$"
)


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Parse an ``Authorization`` header; ``None`` when it is not in the HMAC-SHA256 format."""
    match = _AUTHORIZATION.match(value or "")
    if match is None:
        return None
    access_key, date, region, service, names, sig = match.groups()
    return ParsedAuthorization(access_key, date, region, service, tuple(names.split(";")), sig)
