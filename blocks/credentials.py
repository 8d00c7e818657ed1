"""Credential blocks: one per vendor, holding its secrets and building its client.

Secrets are ``SecretStr`` fields, unwrapped only inside ``get_client()``, so they stay masked in
the Prefect UI, the API, logs and reprs. ``endpoint_url`` points a block at a proxy or at the
pack's emulators (``prefect-image-edit emulate --json`` prints what to put there).

``get_client()`` returns a new client each call: httpx async clients must not be shared across
event loops, and Prefect may run tasks on different loops. Use it as ``async with``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    from prefect_image_edit.vendors.ailabtools import AILabToolsClient
    from prefect_image_edit.vendors.tencent import TencentAiartClient
    from prefect_image_edit.vendors.volcengine import VolcengineVisualClient

__all__ = [
    "AILabToolsCredentials",
    "TencentCloudCredentials",
    "VolcengineCredentials",
    "result_origins",
]

_TIMEOUT_DESCRIPTION = (
    "Seconds to wait for a vendor answer (read timeout); connecting has its own 10 s limit."
)


def result_origins(block: CredentialsBlock) -> tuple[str, ...]:
    """Origins besides the vendor's defaults that result URLs may come from.

    The endpoint override's origin is trusted because the user chose it (the emulators serve
    their results there); ``result_hosts`` adds any others.
    """
    origins = list(getattr(block, "result_hosts", []) or [])
    endpoint = getattr(block, "endpoint_url", None)
    if endpoint:
        parts = urlsplit(endpoint)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(origins)


def _endpoint_field(default_url: str) -> Any:
    return Field(
        default=None,
        title="Endpoint URL",
        description=f"URL instead of {default_url} (a proxy or the emulator).",
    )


def _result_hosts_field() -> Any:
    return Field(
        default_factory=list,
        title="Result Hosts",
        description="Extra origins (scheme://host[:port]) result URLs may be downloaded from, "
        "besides the vendor's own result hosts and the endpoint override's origin.",
    )


def _timeout_field() -> Any:
    return Field(default=120.0, gt=0, description=_TIMEOUT_DESCRIPTION)


def _session_token_field() -> Any:
    return Field(
        default=None,
        title="Session Token",
        description="The STS session token, for temporary credentials only.",
    )


def _timeout(seconds: float):
    import httpx

    return httpx.Timeout(timeout=seconds, connect=min(10.0, seconds))


class AILabToolsCredentials(CredentialsBlock):
    """The API key for AILabTools (Remove Objects Advanced, Try on Clothes Pro and Refiner).

    Example:
        Load saved credentials and erase an object:
        ```python
        from prefect_image_edit.blocks import AILabToolsCredentials

        credentials = AILabToolsCredentials.load("BLOCK_NAME")
        async with credentials.get_client() as client:
            result = await client.remove_objects_advanced("photo.jpg", "mask.png")
        ```
    """

    _block_type_name = "AILabTools Credentials"
    _block_type_slug = "ailabtools-credentials"
    _logo_url = "https://www.ailabtools.com/favicon.ico"
    _documentation_url = "https://www.ailabtools.com/docs"

    api_key: SecretStr = Field(
        default=...,
        title="API Key",
        description="The AILabTools API key, sent in the ailabapi-api-key header.",
    )
    endpoint_url: str | None = _endpoint_field("https://www.ailabapi.com")
    result_hosts: list[str] = _result_hosts_field()
    timeout_seconds: float = _timeout_field()

    def get_client(self) -> AILabToolsClient:
        """A new AILabTools client; close it with ``async with`` or ``await client.aclose()``."""
        from prefect_image_edit.vendors.ailabtools import AILabToolsClient

        kwargs = {"base_url": self.endpoint_url} if self.endpoint_url else {}
        return AILabToolsClient(
            self.api_key.get_secret_value(), timeout=_timeout(self.timeout_seconds), **kwargs
        )


class TencentCloudCredentials(CredentialsBlock):
    """A Tencent Cloud API key pair for aiart ImageInpaintingRemoval (TC3-HMAC-SHA256).

    Example:
        Load saved credentials and erase an object:
        ```python
        from prefect_image_edit.blocks import TencentCloudCredentials

        credentials = TencentCloudCredentials.load("BLOCK_NAME")
        async with credentials.get_client() as client:
            result = await client.image_inpainting_removal(image="photo.jpg", mask="mask.png")
        ```
    """

    _block_type_name = "Tencent Cloud Credentials"
    _block_type_slug = "tencent-cloud-credentials"
    _logo_url = "https://cloud.tencent.com/favicon.ico"
    _documentation_url = "https://cloud.tencent.com/document/api/1668/113745"

    secret_id: str = Field(
        default=...,
        title="Secret ID",
        description="The API key's SecretId (it is sent in clear in every Authorization header).",
    )
    secret_key: SecretStr = Field(
        default=..., title="Secret Key", description="The API key's SecretKey, used only to sign."
    )
    token: SecretStr | None = _session_token_field()
    region: str = Field(
        default="ap-guangzhou", description="The aiart region the requests are sent to."
    )
    endpoint_url: str | None = _endpoint_field("https://aiart.tencentcloudapi.com")
    result_hosts: list[str] = _result_hosts_field()
    timeout_seconds: float = _timeout_field()

    def get_client(self) -> TencentAiartClient:
        """A new aiart client; close it with ``async with`` or ``await client.aclose()``."""
        from prefect_image_edit.vendors.tencent import TencentAiartClient

        kwargs = {"endpoint": self.endpoint_url} if self.endpoint_url else {}
        return TencentAiartClient(
            self.secret_id,
            self.secret_key.get_secret_value(),
            region=self.region,
            token=self.token.get_secret_value() if self.token else None,
            timeout=_timeout(self.timeout_seconds),
            **kwargs,
        )


class VolcengineCredentials(CredentialsBlock):
    """A Volcengine access key pair for visual i2i_inpainting (HMAC-SHA256, service cv).

    Example:
        Load saved credentials and erase an object:
        ```python
        from prefect_image_edit.blocks import VolcengineCredentials

        credentials = VolcengineCredentials.load("BLOCK_NAME")
        async with credentials.get_client() as client:
            result = await client.i2i_inpainting(image="photo.jpg", mask="mask.png")
        ```
    """

    _block_type_name = "Volcengine Credentials"
    _block_type_slug = "volcengine-credentials"
    _logo_url = "https://www.volcengine.com/favicon.ico"
    _documentation_url = "https://www.volcengine.com/docs/6791/1223709"

    access_key_id: str = Field(
        default=...,
        title="Access Key ID",
        description="The access key id (it is sent in clear in every Authorization header).",
    )
    secret_access_key: SecretStr = Field(
        default=...,
        title="Secret Access Key",
        description="The secret access key, used only to sign.",
    )
    session_token: SecretStr | None = _session_token_field()
    region: str = Field(default="cn-north-1", description="The region in the credential scope.")
    action: Literal["CVProcess", "Img2ImgInpainting"] = Field(
        default="CVProcess",
        description="The API action carrying req_key=i2i_inpainting (the docs name both).",
    )
    endpoint_url: str | None = _endpoint_field("https://visual.volcengineapi.com")
    result_hosts: list[str] = _result_hosts_field()
    timeout_seconds: float = _timeout_field()

    def get_client(self) -> VolcengineVisualClient:
        """A new visual client; close it with ``async with`` or ``await client.aclose()``."""
        from prefect_image_edit.vendors.volcengine import VolcengineVisualClient

        kwargs = {"endpoint": self.endpoint_url} if self.endpoint_url else {}
        return VolcengineVisualClient(
            self.access_key_id,
            self.secret_access_key.get_secret_value(),
            session_token=(self.session_token.get_secret_value() if self.session_token else None),
            region=self.region,
            action=self.action,
            timeout=_timeout(self.timeout_seconds),
            **kwargs,
        )
