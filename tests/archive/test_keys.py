from datetime import UTC, datetime

import pytest

from prefect_image_edit.archive.keys import archive_key, extension_for, object_metadata

SHA = "ab" * 32


def test_archive_key_is_content_addressed_under_prefix_and_vendor():
    assert (
        archive_key("image-edit", "tencent", SHA, "image/jpeg") == f"image-edit/tencent/{SHA}.jpg"
    )
    assert archive_key("/a/b/", "local", SHA, "image/png") == f"a/b/local/{SHA}.png"
    assert archive_key("", "volcengine", SHA, "image/webp") == f"volcengine/{SHA}.webp"


@pytest.mark.parametrize(
    ("sha", "vendor"), [("XYZ", "tencent"), (SHA.upper(), "tencent"), (SHA, "../etc"), (SHA, "")]
)
def test_archive_key_refuses_unsafe_parts(sha, vendor):
    with pytest.raises(ValueError):
        archive_key("p", vendor, sha, "image/png")


def test_extension_for_unknown_media_type_is_bin():
    assert extension_for("image/png; charset=binary") == "png"
    assert extension_for("application/x-weird") == "bin"


def test_object_metadata_is_header_safe():
    meta = object_metadata(
        {
            "vendor": "tencent",
            "request_id": None,
            "Input_SHA256": SHA,
            "parameters": {"seed": 1, "quality": "M"},
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "note": "ключ",
        }
    )
    assert "request-id" not in meta
    assert meta["input-sha256"] == SHA
    assert meta["parameters"] == '{"quality":"M","seed":1}'
    assert meta["created-at"] == "2026-01-01T00:00:00+00:00"
    assert all(v.isascii() for v in meta.values())
