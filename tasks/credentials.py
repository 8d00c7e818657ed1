"""Find a vendor's credentials: a saved block by name, a block instance, or the environment.

Flows take block *names* (never raw keys: flow parameters are stored in plain text). With no
name, the vendors' own environment variables are read, so the pack works in CI and in
containers without a Prefect server holding blocks. What is missing is named in the error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prefect.blocks.abstract import CredentialsBlock

from prefect_image_edit.errors import InputError
from prefect_image_edit.tasks.block_cache import load_once
from prefect_image_edit.vendors import registry

__all__ = ["MissingCredentialsError", "resolve_credentials"]

CredentialsSource = str | CredentialsBlock | None


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
        vendor: A registered vendor (``ailabtools``, ``tencent``, ``volcengine``, ...).
        credentials: A block instance, the name of a saved block (``"prod"`` or
            ``"tencent-cloud-credentials/prod"``), or ``None`` for the environment.
        environ: The environment to read (default ``os.environ``).

    Raises:
        MissingCredentialsError: nothing usable was found; the message names what to set.
    """
    spec = registry.get(vendor)
    block_type = spec.block_type()
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
            return await load_once(f"{vendor}:{name}", lambda: block_type.aload(name))
        except ValueError as exc:
            raise MissingCredentialsError(
                f"no saved {block_type.get_block_type_slug()} block named {name!r}",
                source="credentials",
            ) from exc
    env = os.environ if environ is None else environ
    names = spec.env
    values = {field: env[var] for field, var in names.items() if env.get(var)}
    missing = [names[field] for field in spec.required if field not in values]
    if missing:
        raise MissingCredentialsError(
            f"no {vendor} credentials: pass the name of a saved "
            f"{block_type.get_block_type_slug()} block, or set {' and '.join(missing)}",
            source="credentials",
        )
    return block_type(**values)
