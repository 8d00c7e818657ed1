"""The values the try-on tasks pass to each other: small references, never image bytes.

No Prefect here: the flow, the CLI and tests read these without importing the engine.

- ``PreparedOutfit``: the person and garments, prepared once and staged (``prepare_try_on``).
- ``TryOnJob``: a submitted (paid) asynchronous job (``submit_try_on_coarse``/``_refiner``).
- ``FinishedJob``: what polling found for a finished job, handed to archiving as a value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prefect_image_edit.errors import ImageEditError
from prefect_image_edit.tasks.models import StagedFile

__all__ = [
    "COARSE_PARAMETERS",
    "PRO_ACTION",
    "REFINER_ACTION",
    "TARGET",
    "VENDOR",
    "FinishedJob",
    "Gender",
    "JobFailed",
    "PreparedOutfit",
    "Stage",
    "TryOnJob",
    "TryOnPolicy",
]

VENDOR = "ailabtools"
TARGET = "ailabtools-try-on"
"""The imaging limits row (``imaging/limits.py``) every try-on input is prepared for."""
PRO_ACTION = "TryOnClothesPro"
REFINER_ACTION = "TryOnClothesRefiner"
COARSE_PARAMETERS: dict[str, Any] = {"resolution": -1, "restore_face": True}
"""The Pro/Premium docs: a coarse result meant for the Refiner needs these two settings."""

Gender = Literal["woman", "man"]
Stage = Literal["coarse", "refined"]
TryOnPolicy = Literal["fail", "downscale"]
"""What to do with an image outside the limits (try-on has no mask to crop around)."""


class JobFailed(ImageEditError):
    """The vendor ran the job and reports it failed."""


class PreparedOutfit(BaseModel):
    """The person and garments, each prepared once for try-on and staged on this machine.

    Both submits (Pro and Refiner) send exactly these bytes, and their cache keys are made
    of these sha256 values, so a re-run with the same content pays nothing, wherever the
    source files live (local paths or ``s3://``).
    """

    model_config = ConfigDict(frozen=True)

    person: StagedFile = Field(description="The prepared person image.")
    top: StagedFile = Field(description="The prepared top garment.")
    bottom: StagedFile | None = Field(default=None, description="The prepared bottom, if any.")
    person_source: str = Field(description="The person image as the user gave it.")
    top_source: str = Field(description="The top garment as the user gave it.")
    bottom_source: str | None = Field(default=None, description="The bottom as given, if any.")
    steps: dict[str, list[str]] = Field(
        default_factory=dict, description="What preparing did to each image, in order."
    )

    def files(self) -> dict[str, StagedFile]:
        """The staged files by input name (``person``, ``top``, ``bottom`` when given)."""
        named = {"person": self.person, "top": self.top, "bottom": self.bottom}
        return {name: staged for name, staged in named.items() if staged is not None}

    def sources(self) -> dict[str, str]:
        """The references the user gave, by input name (for messages)."""
        named = {"person": self.person_source, "top": self.top_source, "bottom": self.bottom_source}
        return {name: source for name, source in named.items() if source}

    def inputs(self) -> dict[str, str]:
        """Input name -> sha256 of the prepared bytes: the content part of the cache key."""
        return {name: staged.sha256 for name, staged in self.files().items()}


class TryOnJob(BaseModel):
    """A submitted (paid) async job: what polling, archiving and the ledger need."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Content key: the Prefect cache key and the ledger key.")
    stage: Stage
    action: str
    task_id: str = Field(description="The vendor's task id (what was paid for).")
    submitted_at: datetime
    request_id: str | None = None
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Input name -> sha256 of the bytes sent."
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="Parameters sent.")
    attempts: int = Field(default=1, description="Paid requests sent for this content.")
    possible_double_charges: int = Field(
        default=0, description="Requests that may have been billed twice (see the ledger)."
    )
    cost: float | None = Field(
        default=0.0,
        description="What submitting cost in this run, in the price table's unit (0: resumed "
        "or cached; None: price unknown).",
    )


class FinishedJob(BaseModel):
    """A job that succeeded: its result URL, when that URL expires, and whether its bytes are
    staged in the pack's state already (from polling)."""

    model_config = ConfigDict(frozen=True)

    task_id: str = Field(description="The vendor's task id.")
    result_url: str | None = Field(
        default=None, description="Where the vendor serves the result (expires)."
    )
    expires_at: datetime | None = Field(default=None, description="When result_url expires.")
    staged: bool = Field(
        default=False, description="The result's bytes are staged in the state (or archived)."
    )

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the URL is past its expiry (an unknown expiry is taken as still valid)."""
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at
