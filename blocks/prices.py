"""The price table block: what each vendor action costs, as a team's own account pays it.

AILabTools publishes credits per call and the pack knows them; Tencent and Volcengine prices
depend on the account, so they are unknown until set here (and reported as unknown, never as
0). Every price is in one unit (AILabTools credits by default), so ``max_cost`` means one thing
whichever vendor a run uses.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from prefect_image_edit.tasks.cost import PriceTable, default_prices

__all__ = ["ImageEditPrices"]


class ImageEditPrices(Block):
    """Cost per paid call by vendor and action, in one unit; overrides the published prices.

    Example:
        ```python
        from prefect_image_edit.blocks import ImageEditPrices

        prices = ImageEditPrices.load("BLOCK_NAME")
        prices.table().price("tencent", "ImageInpaintingRemoval")
        ```

        Save one with ``ImageEditPrices(prices={"tencent": {"ImageInpaintingRemoval": 12.5}})
        .save("team")`` and name it in a flow's ``Connections(prices="team")``.
    """

    _block_type_name = "Image Edit Prices"
    _block_type_slug = "image-edit-prices"
    _documentation_url = "https://docs.prefect.io/integrations/use-integrations"

    prices: dict[str, dict[str, float | None]] = Field(
        default_factory=default_prices,
        title="Prices",
        description="Cost of one call by vendor and action, e.g. "
        '{"tencent": {"ImageInpaintingRemoval": 12.5}}. Actions left out keep the published '
        "price; an empty value means unknown.",
    )
    unit: str = Field(
        default="credits",
        description="The unit every price is in (AILabTools credits by default).",
    )

    def table(self) -> PriceTable:
        """The published prices with this block's laid over them."""
        return (
            PriceTable.defaults().with_overrides(self.prices).model_copy(update={"unit": self.unit})
        )
