"""Flow parameters and results. Each field has a description: the Prefect UI renders the
parameters as a form, with choices as drop-downs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from prefect_image_edit.errors import InputError
from prefect_image_edit.tasks.models import (
    MAX_VARIANTS,
    EraseOutcome,
    FallbackAttempt,
    OutputOptions,
    Provider,
    Variant,
    has_parent_segment,
)

__all__ = [
    "MAX_BATCH_CONCURRENCY",
    "BatchConcurrency",
    "Connections",
    "EraseOutcome",
    "FallbackAttempt",
    "OutputOptions",
    "Variant",
    "Variants",
    "check_output_path",
]

MAX_BATCH_CONCURRENCY = 64

Variants = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_VARIANTS,
        description=f"How many results with consecutive seeds to make, 1 to {MAX_VARIANTS}.",
    ),
]
"""The ``variants`` flow parameter: bounded in the schema, so the form refuses 0 or 5."""

BatchConcurrency = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_BATCH_CONCURRENCY,
        description="Items in progress at once, 1 to 64 (vendor limits apply on top).",
    ),
]
"""The ``max_concurrency`` parameter of ``batch-erase``."""


class Connections(BaseModel):
    """Saved Prefect blocks to use. Empty credentials fall back to the vendors' environment
    variables (AILABTOOLS_API_KEY; TENCENTCLOUD_SECRET_ID/KEY; VOLC_ACCESSKEY/SECRETKEY)."""

    model_config = ConfigDict(frozen=True)

    ailabtools: str | None = Field(
        default=None, description="Name of a saved AILabTools Credentials block."
    )
    tencent: str | None = Field(
        default=None, description="Name of a saved Tencent Cloud Credentials block."
    )
    volcengine: str | None = Field(
        default=None, description="Name of a saved Volcengine Credentials block."
    )
    archive: str | None = Field(
        default=None,
        description="Saved archive block as `TYPE-SLUG/NAME`, e.g. `image-edit-s3-archive/prod`; "
        "empty archives into a local directory.",
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="Optional per-vendor request rate limit, shared through Prefect.",
    )

    prices: str | None = Field(
        default=None,
        description="Name of a saved Image Edit Prices block (cost per call by vendor and "
        "action); empty uses the published AILabTools prices, Tencent and Volcengine unknown.",
    )

    pools: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Account pools: for a vendor name, several saved credentials blocks of that "
        'vendor, e.g. {"tencent": ["acct-1", "acct-2", "acct-3"]}; each account has its '
        "own concurrency limit, and work goes to the accounts with free slots.",
    )

    other_credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Saved credentials block names by vendor name, for vendors without a field "
        "of their own here.",
    )

    def credentials_for(self, provider: Provider) -> str | None:
        if provider == "local":
            return None
        if provider in type(self).model_fields:
            return getattr(self, provider)
        return self.other_credentials.get(provider)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return os.path.normcase(a.resolve()) == os.path.normcase(b.resolve())


def check_output_path(path: str | os.PathLike[str], image: str) -> None:
    """Refuse writing the edited image over its input, before any paid call.

    Call it with each local path the flow will write (after variant names are added) and
    the image reference the user gave. ``s3://`` inputs cannot be overwritten by a local path.

    Raises:
        InputError: ``path`` is the input file (same file, a link to it, or the same path
            spelled another way), or has a ``..`` segment after a named one.
    """
    from prefect_image_edit.tasks.sources import local_path

    target = Path(path).expanduser()
    if has_parent_segment(os.fspath(path)):
        raise InputError(
            "the output path climbs out of a folder it names ('..' after a folder)",
            source=os.fspath(path),
        )
    if image.startswith("s3://"):
        return
    if _same_file(target, local_path(image)):
        raise InputError(
            "the output path is the input image itself: choose another path so the original "
            "is kept",
            source=os.fspath(path),
        )
