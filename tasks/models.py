"""The small, serialisable values tasks pass to each other and flows take as parameters.

Tasks pass references (path or URI, sha256, size, media type), never megabytes of image bytes
(docs/design.md#inputs). Every field has a description: flows take these models as parameters,
and the Prefect UI renders them as forms.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    computed_field,
    field_validator,
    model_validator,
)

__all__ = [
    "MAX_SEED",
    "MAX_VARIANTS",
    "ArchivedRef",
    "EraseOutcome",
    "EraseSettings",
    "ErasedImage",
    "FallbackAttempt",
    "FinalImage",
    "MaskOptions",
    "OutputOptions",
    "PreparedInputs",
    "Provider",
    "ResizePolicy",
    "StagedFile",
    "Variant",
]


def provider_names() -> tuple[str, ...]:
    from prefect_image_edit.vendors.registry import erase_providers

    return erase_providers()


def _known_provider(name: str) -> str:
    if name not in provider_names():
        raise ValueError(
            f"unknown provider {name!r}; expected one of: {', '.join(provider_names())}"
        )
    return name


class _ProviderChoices:
    """The JSON schema of a provider: a choice of the registered ones (a drop-down in the UI)."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "string", "enum": list(provider_names())}


Provider = Annotated[str, AfterValidator(_known_provider), _ProviderChoices()]
"""An erase provider: ``local`` (OpenCV here, free) or a registered vendor's name."""
ResizePolicy = Literal["fail", "downscale", "crop_around_mask"]

MAX_VARIANTS = 4
"""Most results one erase makes (consecutive seeds, run concurrently)."""
MAX_SEED = 2**31 - 1 - (MAX_VARIANTS - 1)
"""Largest seed: every variant's seed (seed + i) stays a 32-bit int, as the SDKs type it."""

# A mask source is "absent" when missing, null, empty or false. Written without ``required`` so
# Prefect's ``ignore_required`` validation (deployment updates) keeps the rule's meaning.
_NO_MASK_SOURCE = {
    "properties": {
        "mask": {"anyOf": [{"type": "null"}, {"const": ""}]},
        "boxes": {"maxItems": 0},
        "polygons": {"maxItems": 0},
        "from_alpha": {"const": False},
    }
}
Point = tuple[int, int]
Polygon = Annotated[list[Point], Field(min_length=3)]


class MaskOptions(BaseModel):
    """Where the mask comes from and how it is cleaned up. White (255) erases, black keeps.

    Give exactly one source: a mask image, boxes, polygons, or the image's alpha channel. The
    JSON schema carries the "at least one source" rule (``not`` all sources empty), so the
    Prefect UI form and the server refuse a mask-less erase before a run starts.
    """

    model_config = ConfigDict(frozen=True, json_schema_extra={"not": _NO_MASK_SOURCE})

    mask: str | None = Field(
        default=None,
        description="Path or s3:// URI of a mask image (any mode); white erases, black keeps.",
    )
    boxes: list[tuple[int, int, int, int]] = Field(
        default_factory=list,
        description="Rectangles to erase, as (left, top, right, bottom) px of the upright image.",
    )
    polygons: list[Polygon] = Field(
        default_factory=list,
        description="Polygons to erase, each a list of at least three (x, y) points in px.",
    )
    from_alpha: bool = Field(
        default=False,
        description="Use the image's own alpha channel: TRANSPARENT pixels erase (the opposite "
        "of tools that select the opaque area; set invert for those).",
    )
    invert: bool = Field(default=False, description="Swap what erases and what is kept.")
    threshold: int = Field(
        default=128, ge=1, le=255, description="Grey level at or above which a pixel erases."
    )
    dilate_px: int = Field(default=0, ge=0, le=256, description="Grow the mask by this many px.")
    erode_px: int = Field(default=0, ge=0, le=256, description="Shrink the mask by this many px.")
    allow_full: bool = Field(default=False, description="Allow a mask that covers the whole image.")

    @field_validator("boxes")
    @classmethod
    def _boxes_not_inverted(
        cls, boxes: list[tuple[int, int, int, int]]
    ) -> list[tuple[int, int, int, int]]:
        for box in boxes:
            left, top, right, bottom = box
            if left >= right or top >= bottom:
                raise ValueError(
                    f"box {list(box)} is inverted or empty: give (left, top, right, bottom) px "
                    "with left < right and top < bottom"
                )
        return boxes

    @model_validator(mode="after")
    def _one_source(self) -> MaskOptions:
        given = [
            name
            for name, present in (
                ("mask", self.mask),
                ("boxes", self.boxes),
                ("polygons", self.polygons),
                ("from_alpha", self.from_alpha),
            )
            if present
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one mask source (mask, boxes, polygons or from_alpha); "
                f"got {', '.join(given) or 'none'}"
            )
        return self


class EraseSettings(BaseModel):
    """Vendor parameters for object removal. Unused ones are ignored by providers without them."""

    model_config = ConfigDict(frozen=True)

    seed: int = Field(
        default=0,
        ge=-1,
        le=MAX_SEED,
        description="Random seed, -1 to 2147483644; -1 draws a random one. Variants use seed, "
        "seed + 1, ... (Volcengine and AILabTools document [-1, +]; a 32-bit int).",
    )
    steps: int = Field(
        default=30, ge=1, le=200, description="Sampling steps, 1 to 200 (detail vs time)."
    )
    strength: float = Field(
        default=0.8, ge=0.1, le=1.0, description="0.1 to 1.0; smaller stays closer to the original."
    )
    scale: float = Field(default=7.0, ge=1.0, le=20.0, description="Guidance scale, 1 to 20.")
    dilate_size: int = Field(
        default=15, ge=1, le=256, description="Vendor-side mask dilation radius, 1 to 256 px."
    )
    quality: Literal["H", "M", "L"] = Field(
        default="M", description="H best and slowest, M balanced, L fastest."
    )
    visible_mark: bool = Field(
        default=False,
        description="Let Tencent stamp its visible 'AI generated' mark (its LogoAdd=1).",
    )
    reseed_attempts: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Volcengine 201304 ('AI ghost face'): how many other seeds to try.",
    )


class StagedFile(BaseModel):
    """Prepared bytes kept on this machine between preparation and the vendor call."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="Local file holding the bytes.")
    sha256: str = Field(description="SHA-256 of the bytes.")
    size: int = Field(description="Size in bytes.")
    media_type: str = Field(description="Media type, e.g. image/png.")


class PreparedInputs(BaseModel):
    """An image and mask ready for one provider, and what preparing them did."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The image reference as the user gave it.")
    provider: Provider = Field(description="The provider these inputs were prepared for.")
    target: str = Field(description="The imaging limits target the inputs meet.")
    policy: ResizePolicy = Field(description="The policy asked for when a limit is broken.")
    outcome: str = Field(description="What the policy did: as_is, downscaled, cropped, ...")
    image: StagedFile
    mask: StagedFile
    original_size: tuple[int, int] = Field(description="Upright size of the source, px.")
    sent_size: tuple[int, int] = Field(description="Size sent to the provider, px.")
    mask_coverage: float = Field(description="Fraction of the sent image that erases.")
    mask_bbox: tuple[int, int, int, int] = Field(description="Erased region, px.")
    steps: list[str] = Field(default_factory=list, description="What preparing did, in order.")
    recipe: StagedFile | None = Field(
        default=None,
        description="How to map a result back (geometry, mask; no pixels of the image).",
    )
    original: StagedFile | None = Field(
        default=None,
        description="The source image's bytes as read, so later steps of the run need not "
        "read them again (from S3, say).",
    )


class ArchivedRef(BaseModel):
    """A durable archived object: what caches and manifests hold instead of vendor URLs."""

    model_config = ConfigDict(frozen=True)

    uri: str = Field(description="s3://bucket/key or file:///path.")
    key: str = Field(description="The content-addressed key.")
    sha256: str
    size: int
    media_type: str


# No ``..`` segment after a named one (the form refuses ``a/../../x.png`` as it is typed);
# leading ones (``../out.png``) name a folder as plainly as an absolute path does.
_NO_PARENT_SEGMENT = r"^(\.\.([/\\]+|$))*(?!(.*[/\\])?\.\.([/\\]|$))"


def has_parent_segment(path: str) -> bool:
    """Whether ``path`` climbs out of a folder it names: a ``..`` after a named segment."""
    parts = re.split(r"[/\\]", path)
    while parts and parts[0] == "..":
        parts.pop(0)
    return ".." in parts


class OutputOptions(BaseModel):
    """How the edited image is written."""

    model_config = ConfigDict(frozen=True)

    format: Literal["auto", "PNG", "JPEG", "WEBP"] = Field(
        default="PNG",
        description="File format of the edited image; PNG keeps every unmasked pixel exactly "
        "the original's; auto keeps the source's kind (a JPEG photo stays JPEG at `quality`, "
        "anything else becomes PNG).",
    )
    quality: int = Field(default=95, ge=1, le=100, description="JPEG/WEBP quality.")
    path: str | None = Field(
        default=None,
        description="Also write the edited image to this local path (variants add `-seedN`); "
        "never the input's own path, and no `..` after a folder name.",
        json_schema_extra={"pattern": _NO_PARENT_SEGMENT},
    )

    @field_validator("path")
    @classmethod
    def _no_parent_segments(cls, path: str | None) -> str | None:
        if path is not None and has_parent_segment(path):
            raise ValueError(
                f"output path {path!r} climbs out of a folder it names ('..' after a "
                "folder): write the path without it"
            )
        return path


class ErasedImage(BaseModel):
    """A provider's erase result, archived, with what is needed to trace its charge."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    vendor: str
    action: str
    key: str = Field(description="Content key: the Prefect cache key and the ledger key.")
    request_id: str | None = None
    seed: int | None = Field(default=None, description="The seed that produced the result.")
    archived: ArchivedRef
    result: StagedFile | None = Field(
        default=None,
        description="The vendor's result bytes staged on this machine, so the next step reads "
        "them here instead of downloading what was just archived (None on another machine).",
    )
    vendor_url_expires_at: datetime | None = Field(
        default=None, description="When the vendor's own result URL expired or will expire."
    )
    attempts: int = Field(default=0, description="Paid requests sent for this content.")
    possible_double_charges: int = Field(
        default=0, description="Requests that may have been billed twice (see the ledger)."
    )
    repayments: int = Field(
        default=0,
        description="Times this input was paid for again (expired, archive missing, unusable "
        "result); each is recorded with its reason in the state.",
    )
    cached: bool = Field(
        default=False, description="Found already paid for and archived: nothing was sent."
    )
    cost: float | None = Field(
        default=0.0,
        description="What this step's billed requests cost in the price table's unit: every "
        "billed attempt (resends and re-payments too); 0 for a cache hit or the free local "
        "provider; None when the price is unknown.",
    )
    paid: bool = Field(
        default=True, description="Whether the provider charges for calls (False: local)."
    )


class FinalImage(BaseModel):
    """The edited image mapped back onto the original, archived (and written out if asked)."""

    model_config = ConfigDict(frozen=True)

    archived: ArchivedRef
    written_to: str | None = Field(default=None, description="Local path written, if any.")
    size: tuple[int, int] = Field(description="Width and height, px.")
    staged: StagedFile | None = Field(
        default=None, description="The edited image's bytes on this machine, for artifacts."
    )


class FallbackAttempt(BaseModel):
    """A provider that was tried and skipped, and why."""

    provider: Provider
    error: str


class Variant(BaseModel):
    """One seed's result: the vendor's answer and the edited image mapped onto the original."""

    seed: int | None
    erased: ErasedImage
    final: FinalImage

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost(self) -> float | None:
        """What this variant's paid call cost (0 when cached or local; None: unknown)."""
        return self.erased.cost


class EraseOutcome(BaseModel):
    """What an erase produced, where it went, and what it cost."""

    image: str = Field(description="The input image reference.")
    mask: MaskOptions
    provider: Provider = Field(description="The provider that produced the results.")
    variants: list[Variant]
    skipped: list[FallbackAttempt] = Field(
        default_factory=list, description="Providers tried first and skipped (outages...)."
    )
    failed_variants: list[FallbackAttempt] = Field(
        default_factory=list,
        description="Variants that failed while others succeeded, with the reason of each.",
    )
    _original: StagedFile | None = PrivateAttr(default=None)
    """The source's bytes as this run read them (not serialised): artifacts reuse them."""

    @property
    def archived(self) -> list[ArchivedRef]:
        return [v.final.archived for v in self.variants]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost(self) -> float | None:
        """What the variants' paid calls cost together (None when a price is unknown)."""
        from prefect_image_edit.tasks.cost import add_costs

        return add_costs(v.erased.cost for v in self.variants)
