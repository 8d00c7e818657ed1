"""The state block: where a deployment's paid-call ledger and per-input locks live.

A deployment names this block so every worker that runs it shares one state (one ledger, one
set of locks) without each machine setting ``PREFECT_IMAGE_EDIT_STATE_URL``. The URL carries
the database password, so the whole URL is a secret.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from prefect_image_edit.state import StateStore, resolve_state

__all__ = ["ImageEditState"]


class ImageEditState(Block):
    """The shared state of prefect-image-edit: a PostgreSQL URL (or a local directory).

    Example:
        ```python
        from prefect_image_edit.blocks import ImageEditState

        state = ImageEditState.load("BLOCK_NAME")
        store = state.get_store()
        ```
    """

    _block_type_name = "Image Edit State"
    _block_type_slug = "image-edit-state"
    _documentation_url = "https://docs.prefect.io/integrations/use-integrations"

    url: SecretStr = Field(
        default=...,
        title="State URL",
        description="Where the ledger and locks live: postgresql://USER:PASSWORD@HOST:5432/DB "
        "for a team, or file:///DIRECTORY for one machine.",
    )

    def get_store(self) -> StateStore:
        """The state store for this URL (shared with every other user of the same URL)."""
        return resolve_state(self.url.get_secret_value())
