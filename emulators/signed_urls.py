"""Result URLs signed the way each vendor's object store signs them, and their verification.

- Tencent returns COS pre-signed URLs (``q-sign-algorithm=sha1 ... q-sign-time=<start>;<end>``),
  signed here with COS's real algorithm: HMAC-SHA1 over the key time, then over the HTTP string.
- Volcengine returns byteimg/TOS links (``rk3s=..&x-expires=<unix>&x-signature=..``).
- AILabTools returns Aliyun OSS V1 URLs (``Expires=<unix>&OSSAccessKeyId=..&Signature=..``).

``vendors.results.result_url_expiry`` reads all three. A tampered URL or one past its expiry (on
the emulator clock) answers 403 with the store's XML error body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

__all__ = ["Denied", "ResultStore", "SignedObject", "UrlSigner", "signer_for"]


@dataclass(frozen=True, slots=True)
class SignedObject:
    vendor: str
    path: str
    data: bytes
    content_type: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Denied:
    """Why a download is refused: HTTP status, the store's error code and message."""

    status: int
    code: str
    message: str


def _hmac_sha1(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha1).digest()


class UrlSigner:
    """Mints and checks one vendor's result URLs; subclasses hold the vendor's format."""

    vendor = ""
    store_name = ""

    def __init__(self) -> None:
        self.key_id = ""
        self.secret = secrets.token_hex(20)

    def object_path(self, object_id: str, now: float) -> str:
        raise NotImplementedError

    def mint(self, base_url: str, path: str, host: str, now: float, ttl: int) -> str:
        raise NotImplementedError

    def verify(self, path: str, query: dict[str, str], host: str, now: float) -> Denied | None:
        raise NotImplementedError

    def error_xml(self, denied: Denied, path: str, request_id: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
            f"  <Code>{denied.code}</Code>\n  <Message>{denied.message}</Message>\n"
            f"  <Resource>{path}</Resource>\n  <RequestId>{request_id}</RequestId>\n</Error>\n"
        )

    def headers(self, request_id: str) -> dict[str, str]:
        return {}


class CosSigner(UrlSigner):
    """Tencent COS pre-signed URLs (what aiart's ``RspImgType=url`` returns)."""

    vendor = "tencent"
    store_name = "tencent-cos"

    def __init__(self) -> None:
        super().__init__()
        self.key_id = f"AKIDemulatorcos{secrets.token_hex(10)}"

    def object_path(self, object_id: str, now: float) -> str:
        return f"/aiart-emulator-1250000000/{object_id}.jpg"

    def _signature(self, key_time: str, path: str, host: str) -> str:
        sign_key = hmac.new(self.secret.encode(), key_time.encode(), hashlib.sha1).hexdigest()
        http_string = f"get\n{path}\n\nhost={quote(host.lower(), safe='')}\n"
        to_sign = f"sha1\n{key_time}\n{hashlib.sha1(http_string.encode()).hexdigest()}\n"
        return hmac.new(sign_key.encode(), to_sign.encode(), hashlib.sha1).hexdigest()

    def mint(self, base_url: str, path: str, host: str, now: float, ttl: int) -> str:
        start = int(now)
        key_time = f"{start};{start + int(ttl)}"
        query = (
            f"q-sign-algorithm=sha1&q-ak={self.key_id}&q-sign-time={key_time}"
            f"&q-key-time={key_time}&q-header-list=host&q-url-param-list="
            f"&q-signature={self._signature(key_time, path, host)}"
        )
        return f"{base_url}{path}?{query}"

    def verify(self, path: str, query: dict[str, str], host: str, now: float) -> Denied | None:
        key_time = query.get("q-key-time", "")
        parts = key_time.split(";")
        if (
            query.get("q-sign-algorithm") != "sha1"
            or query.get("q-ak") != self.key_id
            or query.get("q-sign-time") != key_time
            or len(parts) != 2
            or not all(p.isdigit() for p in parts)
        ):
            return Denied(403, "AccessDenied", "Access Denied.")
        expected = self._signature(key_time, path, host)
        if not hmac.compare_digest(expected, query.get("q-signature", "")):
            return Denied(
                403,
                "SignatureDoesNotMatch",
                "The Signature you specified is invalid.",
            )
        start, end = (int(p) for p in parts)
        if not start <= now < end:
            return Denied(403, "AccessDenied", "Request has expired")
        return None

    def headers(self, request_id: str) -> dict[str, str]:
        return {"Server": "tencent-cos", "x-cos-request-id": request_id}


class TosSigner(UrlSigner):
    """Volcengine result links (byteimg/TOS style, ``x-expires`` + ``x-signature``)."""

    vendor = "volcengine"
    store_name = "volcengine-tos"

    def __init__(self) -> None:
        super().__init__()
        self.key_id = secrets.token_hex(4)  # the rk3s value

    def object_path(self, object_id: str, now: float) -> str:
        return f"/tos-cn-i-emulator/{object_id}~tplv-emulator-image.image"

    def _signature(self, path: str, expires: str) -> str:
        digest = _hmac_sha1(self.secret.encode(), f"{path}\n{self.key_id}\n{expires}")
        return base64.b64encode(digest).decode()

    def mint(self, base_url: str, path: str, host: str, now: float, ttl: int) -> str:
        expires = str(int(now) + int(ttl))
        query = urlencode(
            {
                "rk3s": self.key_id,
                "x-expires": expires,
                "x-signature": self._signature(path, expires),
            }
        )
        return f"{base_url}{path}?{query}"

    def verify(self, path: str, query: dict[str, str], host: str, now: float) -> Denied | None:
        expires = query.get("x-expires", "")
        if query.get("rk3s") != self.key_id or not expires.isdigit():
            return Denied(403, "AccessDenied", "Access Denied")
        expected = self._signature(path, expires)
        if not hmac.compare_digest(expected, query.get("x-signature", "")):
            return Denied(403, "AccessDenied", "Signature verification failed")
        if now >= int(expires):
            return Denied(403, "AccessDenied", "Request has expired")
        return None

    def headers(self, request_id: str) -> dict[str, str]:
        return {"Server": "TosServer", "x-tos-request-id": request_id}


class OssSigner(UrlSigner):
    """Aliyun OSS V1 signed URLs (where AILabTools keeps async results for 24 h)."""

    vendor = "ailabtools"
    store_name = "ailabtools-oss"

    def __init__(self) -> None:
        super().__init__()
        self.key_id = f"LTAIemulator{secrets.token_hex(6)}"

    def object_path(self, object_id: str, now: float) -> str:
        day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
        return f"/ailab-outputs/{day}/{object_id}.jpg"

    def _signature(self, path: str, expires: str) -> str:
        return base64.b64encode(
            _hmac_sha1(self.secret.encode(), f"GET\n\n\n{expires}\n{path}")
        ).decode()

    def mint(self, base_url: str, path: str, host: str, now: float, ttl: int) -> str:
        expires = str(int(now) + int(ttl))
        query = urlencode(
            {
                "Expires": expires,
                "OSSAccessKeyId": self.key_id,
                "Signature": self._signature(path, expires),
            }
        )
        return f"{base_url}{path}?{query}"

    def verify(self, path: str, query: dict[str, str], host: str, now: float) -> Denied | None:
        expires = query.get("Expires", "")
        if query.get("OSSAccessKeyId") != self.key_id or not expires.isdigit():
            return Denied(403, "AccessDenied", "Access Denied.")
        if not hmac.compare_digest(self._signature(path, expires), query.get("Signature", "")):
            return Denied(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if now >= int(expires):
            return Denied(403, "AccessDenied", "Request has expired.")
        return None

    def headers(self, request_id: str) -> dict[str, str]:
        return {"Server": "AliyunOSS", "x-oss-request-id": request_id}


_SIGNERS: dict[str, type[UrlSigner]] = {
    "tencent": CosSigner,
    "volcengine": TosSigner,
    "ailabtools": OssSigner,
}


def signer_for(vendor: str) -> UrlSigner:
    return _SIGNERS[vendor]()


class ResultStore:
    """Result images by URL path, for all vendors; what the signed URLs point at."""

    def __init__(self) -> None:
        self._objects: dict[str, SignedObject] = {}
        self._lock = threading.Lock()

    def put(self, vendor: str, path: str, data: bytes, content_type: str, now: float) -> None:
        with self._lock:
            self._objects[path] = SignedObject(vendor, path, data, content_type, now)

    def get(self, path: str) -> SignedObject | None:
        with self._lock:
            return self._objects.get(path)

    def reset(self) -> None:
        with self._lock:
            self._objects.clear()


def new_object_id() -> str:
    return uuid.uuid4().hex
