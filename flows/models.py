"""Flow parameters and results. Each field has a description: the Prefect UI renders the
parameters as a form, with choices as drop-downs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    WrapSerializer,
    WrapValidator,
    create_model,
)

from prefect_image_edit.tasks.models import (
    MAX_VARIANTS,
    EraseOutcome,
    FallbackAttempt,
    OutputOptions,
    Provider,
    Variant,
)
from prefect_image_edit.tasks.sources import check_output_path

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


def _keep_names(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A block name stays a name (resolved once per run, by the flow); anything else is
    validated as the block type, so the UI's picker (a block document) and block instances
    from Python both work.

    The schema offers the saved blocks (a picker) and, beside them, a name: ``prefect.yaml``
    and ``serve --tencent prod`` write names, and the server validates deployment parameters
    against this schema."""
    if isinstance(value, str):
        return value.strip() or None
    return handler(value)


def _blocks_as_references(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    """A saved block is written as a block document reference (what the UI's picker sends):
    a flow run's stored parameters then hold an id, never a block's fields. A name stays a
    name; an unsaved block is written with its secrets masked (``**********``)."""
    if value is None or isinstance(value, str):
        return value
    document_id = getattr(value, "_block_document_id", None)
    if document_id is not None:
        return {"$ref": {"block_document_id": str(document_id)}}
    return handler(value)


BlockOrName = (WrapValidator(_keep_names), WrapSerializer(_blocks_as_references))
"""Field metadata: validate names as names and blocks as blocks; serialise saved blocks as
references."""


def _archive_name(value: Any) -> Any:
    if isinstance(value, str) and value and "/" not in value:
        raise ValueError(
            f"name the archive block as TYPE-SLUG/NAME, e.g. {LOCAL_ARCHIVE_SLUG}/{value} or "
            f"{S3_ARCHIVE_SLUG}/{value}"
        )
    return value


LOCAL_ARCHIVE_SLUG = "image-edit-local-archive"
S3_ARCHIVE_SLUG = "image-edit-s3-archive"


class _ConnectionsBase(BaseModel):
    """Behaviour shared by :data:`Connections` (its fields come from the vendor registry)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    def credentials_for(self, provider: Provider) -> Any:
        """The block (or block name) for ``provider``'s credentials; None: the environment."""
        if provider == "local":
            return None
        if provider in type(self).model_fields:
            return getattr(self, provider)
        return self.other_credentials.get(provider)


def _credentials_field(spec: Any) -> tuple[Any, Any]:
    block = spec.block_type()
    env = " and ".join(spec.env[field] for field in spec.required)
    return (
        Annotated[block | str | None, *BlockOrName],
        Field(
            default=None,
            title=f"{spec.title} credentials",
            description=f"A saved {block.get_block_type_name()} block (from Python or the "
            f"CLI: its name); empty reads {env} from the environment.",
        ),
    )


def _build_connections() -> type[_ConnectionsBase]:
    from prefect_image_edit.blocks.archive import LocalArchiveStorage, S3ArchiveStorage
    from prefect_image_edit.vendors import registry

    fields: dict[str, Any] = {spec.name: _credentials_field(spec) for spec in registry.specs()}
    fields["archive"] = (
        Annotated[
            LocalArchiveStorage | S3ArchiveStorage | str | None,
            *BlockOrName,
            AfterValidator(_archive_name),
        ],
        Field(
            default=None,
            description="A saved archive block (from Python or the CLI: `TYPE-SLUG/NAME`, e.g. "
            f"`{S3_ARCHIVE_SLUG}/prod`); empty archives into a local directory.",
        ),
    )
    fields["requests_per_second"] = (
        float | None,
        Field(
            default=None,
            gt=0,
            le=1000,
            description="Optional per-vendor request rate limit, shared through Prefect.",
        ),
    )
    fields["prices"] = (
        str | None,
        Field(
            default=None,
            description="Name of a saved Image Edit Prices block (cost per call by vendor and "
            "action); empty uses the published AILabTools prices, Tencent and Volcengine unknown.",
        ),
    )
    fields["pools"] = (
        dict[str, list[str]],
        Field(
            default_factory=dict,
            description="Account pools: for a vendor name, several saved credentials blocks of "
            'that vendor, e.g. {"tencent": ["acct-1", "acct-2"]}; each account has its own '
            "concurrency limit, and work goes to the accounts with free slots.",
        ),
    )
    fields["other_credentials"] = (
        dict[str, str],
        Field(
            default_factory=dict,
            description="Saved credentials block names by vendor name, for vendors registered "
            "after this form was built.",
        ),
    )
    model = create_model(
        "Connections",
        __base__=_ConnectionsBase,
        __module__=__name__,
        __doc__="Saved Prefect blocks to use: each vendor's credentials and the archive. "
        "Pick saved blocks in the UI; from Python and the CLI, block names work too. Empty "
        "credentials fall back to the vendors' environment variables.",
        **fields,
    )
    return model


Connections = _build_connections()
"""The ``connections`` flow parameter: one credentials block per registered vendor (a block
picker in the Prefect UI, a name or an instance from Python) and the archive storage block."""
