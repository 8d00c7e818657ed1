"""Emulator configuration: one mutable dataclass per vendor, plus the suite-wide knobs.

Settings are read on every request, so changing ``emu.settings.tencent.latency`` (or PATCHing
``/_emulator/settings``) takes effect at once; values captured by a job when it is accepted
(an async task's durations, a URL's TTL) keep the values of that moment.

Credentials are throw-away values minted per run: they contain ``emulator`` so nobody mistakes
them for real keys, and they mean nothing outside the emulators.
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AILabToolsSettings",
    "EmulatorSettings",
    "TencentSettings",
    "VendorSettings",
    "VolcengineSettings",
    "new_ailabtools_key",
    "new_tencent_credentials",
    "new_volcengine_credentials",
]


def new_ailabtools_key() -> str:
    return f"emulator-ailab-{secrets.token_hex(16)}"


def new_tencent_credentials() -> tuple[str, str]:
    """(SecretId, SecretKey) shaped like Tencent's: AKID + 32 characters, a 32-character key."""
    return f"AKIDemulator{secrets.token_hex(12)}", f"emulator{secrets.token_hex(12)}"


def new_volcengine_credentials() -> tuple[str, str]:
    """(AccessKeyId, SecretAccessKey) shaped like Volcengine's AKLT... ids."""
    return f"AKLTemulator{secrets.token_hex(14)}", f"emulator{secrets.token_urlsafe(24)}"


@dataclass
class VendorSettings:
    """Knobs every vendor has.

    Attributes:
        latency: Seconds an accepted paid job takes before its answer (0: as fast as possible).
        url_ttl: Seconds a result URL stays valid.
        max_concurrency: Paid jobs one account may run at once (``None``: no limit).
        account_concurrency: Per-account overrides of ``max_concurrency``.
        result_format: Pillow format of result images (the vendors return JPEG).
        result_quality: JPEG quality of result images.
    """

    latency: float = 0.0
    url_ttl: int = 86400
    max_concurrency: int | None = None
    account_concurrency: dict[str, int] = field(default_factory=dict)
    result_format: str = "JPEG"
    result_quality: int = 95

    def concurrency_for(self, account: str) -> int | None:
        return self.account_concurrency.get(account, self.max_concurrency)


@dataclass
class AILabToolsSettings(VendorSettings):
    """AILabTools: API keys, credits and the async task state machine.

    Attributes:
        api_keys: Valid ``ailabapi-api-key`` values; the first is the one handed out.
        credits: Credits each account starts with (``None``: unlimited). Remove Objects costs
            20, Try on Clothes Pro 30, Premium 50, Refiner 25.
        account_credits: Per-account overrides of ``credits``.
        task_queued_seconds: How long a new async task stays queued (task_status 0).
        task_processing_seconds: How long it then processes (task_status 1) before done (2).
        task_retention_seconds: How long a finished task stays queryable (404 afterwards).
        failed_task_http_status: HTTP status of the query answer for a failed task: 422 (an
            error envelope that also carries ``task_status`` 3) or 200 (``task_status`` 3 only).
            A TASK_FAILURE fault's own ``status`` wins (500 with ``PROCESSING_FAILURE``).
        query_shape: Where query answers put ``task_status`` and ``output``: ``top`` (the seed
            doc, the default) or ``data`` (inside ``data``, where the official SDK reads first).
    """

    api_keys: list[str] = field(default_factory=lambda: [new_ailabtools_key()])
    credits: int | None = 100_000
    account_credits: dict[str, int] = field(default_factory=dict)
    task_queued_seconds: float = 1.0
    task_processing_seconds: float = 2.0
    task_retention_seconds: float = 86400.0
    failed_task_http_status: int = 422
    query_shape: str = "top"

    def credits_for(self, account: str) -> int | None:
        return self.account_credits.get(account, self.credits)


def _tencent_accounts() -> dict[str, str]:
    secret_id, secret_key = new_tencent_credentials()
    return {secret_id: secret_key}


def _volcengine_accounts() -> dict[str, str]:
    access_key, secret_key = new_volcengine_credentials()
    return {access_key: secret_key}


@dataclass
class TencentSettings(VendorSettings):
    """Tencent aiart: accounts, regions and the TC3 timestamp window.

    Attributes:
        accounts: SecretId -> SecretKey; the first is the one handed out.
        tokens: SecretId -> the STS token (``X-TC-Token``) those temporary credentials need.
        region: The region handed out to clients.
        regions: Regions the API accepts (others answer UnsupportedRegion).
        timestamp_window: Seconds ``X-TC-Timestamp`` may differ from the clock (either way).
    """

    url_ttl: int = 3600
    max_concurrency: int | None = 1
    accounts: dict[str, str] = field(default_factory=_tencent_accounts)
    tokens: dict[str, str] = field(default_factory=dict)
    region: str = "ap-guangzhou"
    regions: list[str] = field(
        default_factory=lambda: ["ap-guangzhou", "ap-shanghai", "ap-beijing"]
    )
    timestamp_window: int = 300


@dataclass
class VolcengineSettings(VendorSettings):
    """Volcengine visual: accounts, the credential scope and the X-Date skew window.

    Attributes:
        accounts: AccessKeyId -> SecretAccessKey; the first is the one handed out.
        tokens: AccessKeyId -> the STS token (``X-Security-Token``) those credentials need.
        region: Region of the credential scope (the service lives in cn-north-1 only).
        service: Service of the credential scope.
        timestamp_window: Seconds ``X-Date`` may differ from the clock (either way).
    """

    max_concurrency: int | None = 10
    accounts: dict[str, str] = field(default_factory=_volcengine_accounts)
    tokens: dict[str, str] = field(default_factory=dict)
    region: str = "cn-north-1"
    service: str = "cv"
    timestamp_window: int = 900


VENDOR_SETTINGS: dict[str, type[VendorSettings]] = {
    "ailabtools": AILabToolsSettings,
    "tencent": TencentSettings,
    "volcengine": VolcengineSettings,
}


@dataclass
class EmulatorSettings:
    """Everything configurable, for all three emulators.

    Attributes:
        host: Interface the servers bind (loopback only).
        ailabtools_port, tencent_port, volcengine_port: Ports (0: a free one).
        hang_seconds: How long a TIMEOUT fault holds the connection before dropping it.
        fetch_timeout: Seconds the emulators wait when they download an input URL.
    """

    ailabtools: AILabToolsSettings = field(default_factory=AILabToolsSettings)
    tencent: TencentSettings = field(default_factory=TencentSettings)
    volcengine: VolcengineSettings = field(default_factory=VolcengineSettings)
    host: str = "127.0.0.1"
    ailabtools_port: int = 0
    tencent_port: int = 0
    volcengine_port: int = 0
    hang_seconds: float = 600.0
    fetch_timeout: float = 10.0

    def add_accounts(self, count: int) -> None:
        """Make every vendor hold ``count`` accounts, each with its own keys (and so its own
        concurrency limit, credits and billing counters); the first stays the first."""
        if count < 1:
            raise ValueError(f"accounts must be 1 or more, got {count}")
        keys = self.ailabtools.api_keys
        keys.extend(new_ailabtools_key() for _ in range(count - len(keys)))
        for accounts, new in (
            (self.tencent.accounts, new_tencent_credentials),
            (self.volcengine.accounts, new_volcengine_credentials),
        ):
            while len(accounts) < count:
                key, secret = new()
                accounts[key] = secret

    def vendor(self, name: str) -> VendorSettings:
        if name not in VENDOR_SETTINGS:
            raise ValueError(f"Unknown vendor {name!r}; expected one of {sorted(VENDOR_SETTINGS)}.")
        return getattr(self, name)

    @classmethod
    def build(cls, **kwargs: Any) -> EmulatorSettings:
        """Settings from ``run_emulators`` keywords.

        Accepted forms: ``settings=EmulatorSettings(...)`` (used as the base), a vendor name with
        a dict or settings object (``tencent={"latency": 0.2}``), ``<vendor>_<field>=value``
        (``tencent_latency=0.2``), and the top-level fields (``hang_seconds=30``).

        Raises:
            TypeError: an unknown keyword or field.
        """
        base = kwargs.pop("settings", None)
        settings = copy.deepcopy(base) if base is not None else cls()
        settings.update(kwargs)
        return settings

    def update(self, patch: dict[str, Any]) -> None:
        """Apply a (possibly nested) dict of changes in place, e.g. from the HTTP control API."""
        top = {f.name for f in dataclasses.fields(self)} - set(VENDOR_SETTINGS)
        for key, value in patch.items():
            if key in VENDOR_SETTINGS:
                if isinstance(value, VendorSettings):
                    setattr(self, key, copy.deepcopy(value))
                elif isinstance(value, dict):
                    _apply(self.vendor(key), value, key)
                else:
                    raise TypeError(f"{key} takes a dict of settings, got {type(value).__name__}.")
            elif key in top:
                setattr(self, key, value)
            elif "_" in key and key.split("_", 1)[0] in VENDOR_SETTINGS:
                vendor, name = key.split("_", 1)
                _apply(self.vendor(vendor), {name: value}, vendor)
            else:
                raise TypeError(
                    f"Unknown emulator setting {key!r}. Use a vendor name "
                    f"({', '.join(VENDOR_SETTINGS)}) with a dict, <vendor>_<field>, or one of "
                    f"{', '.join(sorted(top))}."
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _apply(target: VendorSettings, values: dict[str, Any], vendor: str) -> None:
    names = {f.name for f in dataclasses.fields(target)}
    for name, value in values.items():
        if name not in names:
            raise TypeError(
                f"Unknown {vendor} setting {name!r}; expected one of {', '.join(sorted(names))}."
            )
        setattr(target, name, copy.deepcopy(value))
