"""Flow parameters and results. Each field has a description: the Prefect UI renders the
parameters as a form, with choices as drop-downs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from prefect_image_edit.tasks.models import (
    ArchivedRef,
    ErasedImage,
    FinalImage,
    MaskOptions,
    OutputOptions,
    Provider,
    StagedFile,
)

__all__ = [
    "Connections",
    "EraseOutcome",
    "FallbackAttempt",
    "OutputOptions",
    "Variant",
]


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
        description="Saved archive block as <type-slug>/<name>, e.g. image-edit-s3-archive/prod; "
        "empty archives into a local directory.",
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Optional per-vendor request rate limit, shared through Prefect.",
    )

    other_credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Vendor name -> saved credentials block name, for vendors without a field "
        "of their own here.",
    )

    def credentials_for(self, provider: Provider) -> str | None:
        if provider == "local":
            return None
        if provider in type(self).model_fields:
            return getattr(self, provider)
        return self.other_credentials.get(provider)


class FallbackAttempt(BaseModel):
    """A provider that was tried and skipped, and why."""

    provider: Provider
    error: str


class Variant(BaseModel):
    """One seed's result: the vendor's answer and the edited image mapped onto the original."""

    seed: int | None
    erased: ErasedImage
    final: FinalImage


class EraseOutcome(BaseModel):
    """What an erase produced, where it went, and what it cost."""

    image: str = Field(description="The input image reference.")
    mask: MaskOptions
    provider: Provider = Field(description="The provider that produced the results.")
    variants: list[Variant]
    skipped: list[FallbackAttempt] = Field(
        default_factory=list, description="Providers tried first and skipped (outages...)."
    )
    _original: StagedFile | None = PrivateAttr(default=None)
    """The source's bytes as this run read them (not serialised): artifacts reuse them."""

    @property
    def archived(self) -> list[ArchivedRef]:
        return [v.final.archived for v in self.variants]
