"""Find a vendor's credentials: a saved block by name, a block instance, or the environment.

Flows take block *names* (never raw keys: flow parameters are stored in plain text). With no
name, the vendors' own environment variables are read, so the pack works in CI and in
containers without a Prefect server holding blocks. What is missing is named in the error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prefect.blocks.abstract import CredentialsBlock

from prefect_image_edit.blocks.credentials import (
    AILabToolsCredentials,
    TencentCloudCredentials,
    VolcengineCredentials,
)
from prefect_image_edit.errors import InputError

__all__ = ["ENVIRONMENT", "MissingCredentialsError", "resolve_credentials"]

CredentialsSource = str | CredentialsBlock | None

_BLOCKS: dict[str, type[CredentialsBlock]] = {
    "ailabtools": AILabToolsCredentials,
    "tencent": TencentCloudCredentials,
    "volcengine": VolcengineCredentials,
}

# Block field -> environment variable. The first names are the vendors' SDK conventions.
ENVIRONMENT: dict[str, dict[str, str]] = {
    "ailabtools": {
        "api_key": "AILABTOOLS_API_KEY",
        "endpoint_url": "AILABTOOLS_ENDPOINT_URL",
    },
    "tencent": {
        "secret_id": "TENCENTCLOUD_SECRET_ID",
        "secret_key": "TENCENTCLOUD_SECRET_KEY",
        "token": "TENCENTCLOUD_SESSION_TOKEN",
        "region": "TENCENTCLOUD_REGION",
        "endpoint_url": "TENCENTCLOUD_AIART_ENDPOINT_URL",
    },
    "volcengine": {
        "access_key_id": "VOLC_ACCESSKEY",
        "secret_access_key": "VOLC_SECRETKEY",
        "session_token": "VOLC_SESSION_TOKEN",
        "region": "VOLC_REGION",
        "endpoint_url": "VOLC_VISUAL_ENDPOINT_URL",
    },
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ailabtools": ("api_key",),
    "tencent": ("secret_id", "secret_key"),
    "volcengine": ("access_key_id", "secret_access_key"),
}


class MissingCredentialsError(InputError):
    """No credentials for a vendor: neither a block nor the environment variables."""


async def resolve_credentials(
    vendor: str,
    credentials: CredentialsSource = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> CredentialsBlock:
    """The credentials block for ``vendor``.

    Args:
        vendor: ``ailabtools``, ``tencent`` or ``volcengine``.
        credentials: A block instance, the name of a saved block (``"prod"`` or
            ``"tencent-cloud-credentials/prod"``), or ``None`` for the environment.
        environ: The environment to read (default ``os.environ``).

    Raises:
        MissingCredentialsError: nothing usable was found; the message names what to set.
    """
    block_type = _BLOCKS[vendor]
    if isinstance(credentials, CredentialsBlock):
        if not isinstance(credentials, block_type):
            raise MissingCredentialsError(
                f"{type(credentials).__name__} cannot sign {vendor} requests; "
                f"use a {block_type.__name__} block",
                source="credentials",
            )
        return credentials
    if isinstance(credentials, str) and credentials:
        name = credentials.split("/", 1)[1] if "/" in credentials else credentials
        try:
            return await block_type.aload(name)
        except ValueError as exc:
            raise MissingCredentialsError(
                f"no saved {block_type.get_block_type_slug()} block named {name!r}",
                source="credentials",
            ) from exc
    env = os.environ if environ is None else environ
    names = ENVIRONMENT[vendor]
    values = {field: env[var] for field, var in names.items() if env.get(var)}
    missing = [names[field] for field in _REQUIRED[vendor] if field not in values]
    if missing:
        raise MissingCredentialsError(
            f"no {vendor} credentials: pass the name of a saved "
            f"{block_type.get_block_type_slug()} block, or set {' and '.join(missing)}",
            source="credentials",
        )
    return block_type(**values)
