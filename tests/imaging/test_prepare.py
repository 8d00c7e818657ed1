"""prepare_image / prepare_pair: policies, byte caps, records, purity."""

from __future__ import annotations

import hashlib
import io
import pickle
from unittest.mock import patch

import pytest
from PIL import Image

from prefect_image_edit.imaging import (
    LIMITS,
    ImageTooLargeError,
    Limits,
    MaskMismatchError,
    UnreadableImageError,
    load_image,
    prepare_image,
    prepare_mask,
    prepare_pair,
    probe_image,
)


def _tiny(max_side=4096, max_bytes=None, min_side=16, max_base64_chars=None):
    limits = Limits(
        "tiny", frozenset({"JPEG", "PNG"}), min_side, max_side, max_bytes, max_base64_chars
    )
    return patch.dict(LIMITS, {"tiny": limits})


def test_record_of_an_image_sent_as_is(kit):
    data = kit.encode(kit.photo((200, 120)), "JPEG", quality=90)
    prepared = prepare_image(data, target="volcengine")
    assert prepared.format == "JPEG" and prepared.media_type == "image/jpeg"
    assert prepared.sha256 == hashlib.sha256(prepared.data).hexdigest()
    assert prepared.source_sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.size == prepared.original_size == (200, 120)
    assert prepared.outcome == "as_is" and prepared.crop_box == (0, 0, 200, 120)
    assert prepared.quality == 95 and not prepared.alpha_kept and prepared.profile is None
    assert prepared.steps[-1].startswith("encoded JPEG 200x120 px")
    assert "data=" not in repr(prepared) and "original=" not in repr(prepared)


def test_same_input_gives_the_same_bytes(kit):
    data = kit.encode(kit.photo((150, 100)), "PNG")
    first, second = prepare_image(data, target="tencent"), prepare_image(data, target="tencent")
    assert first.data == second.data and first.sha256 == second.sha256


def test_prepared_image_pickles_for_task_states(kit):
    prepared = prepare_image(kit.encode(kit.photo((100, 100)), "PNG"), target="local")
    assert pickle.loads(pickle.dumps(prepared)) == prepared


def test_format_auto_keeps_png_for_lossless_sources_and_explicit_formats(kit):
    png = kit.encode(kit.photo((100, 100)), "PNG")
    assert prepare_image(png, target="volcengine").format == "PNG"
    assert prepare_image(png, target="volcengine", format="jpg").format == "JPEG"
    jpeg = kit.encode(kit.photo((100, 100)), "JPEG")
    assert prepare_image(jpeg, target="volcengine").format == "JPEG"
    assert prepare_image(jpeg, target="volcengine", format="PNG").format == "PNG"
    with pytest.raises(ValueError, match="JPEG, PNG"):
        prepare_image(jpeg, target="volcengine", format="WEBP")


def test_options_are_checked_before_decoding():
    not_read = b"never decoded"
    for kwargs, message in [
        ({"target": "dall-e"}, "expected one of: ailabtools-remove-objects"),
        ({"target": "local", "policy": "shrink"}, "fail, downscale, crop_around_mask"),
        ({"target": "local", "quality": 0}, "quality"),
        ({"target": "local", "margin": -1}, "margin"),
        ({"target": "local", "background": (300, 0, 0)}, "colour"),
        ({"target": "local", "animation": "all"}, "animation"),
        ({"target": "local", "policy": "crop_around_mask"}, "needs mask="),
    ]:
        with pytest.raises(ValueError, match=message):
            prepare_image(not_read, **kwargs)


def test_downscale_is_the_largest_size_that_fits(kit):
    data = kit.encode(kit.photo((300, 200)), "PNG")
    with _tiny(max_side=150):
        prepared = prepare_image(data, target="tiny", policy="downscale")
    assert prepared.size == (150, 100) and prepared.outcome == "downscaled"
    assert prepared.frame.scale == (0.5, 0.5)
    assert "downscaled 300x200 -> 150x100 px" in prepared.steps


def test_byte_cap_lowers_quality_then_size_and_fail_says_which_limit(kit):
    data = kit.encode(kit.photo((400, 400), seed=3), "PNG")
    with _tiny(max_bytes=12_000):
        with pytest.raises(ImageTooLargeError) as caught:
            prepare_image(data, target="tiny", policy="fail", min_quality=90)
        assert caught.value.limits == ("max_bytes",)
        assert caught.value.violations[0].bound == 12_000
        prepared = prepare_image(data, target="tiny", policy="downscale")
    assert len(prepared.data) <= 12_000 and prepared.format == "JPEG"
    assert prepared.outcome == "downscaled" and prepared.quality == 80
    assert any("to fit 12000 bytes" in step for step in prepared.steps)


def test_base64_cap_is_met_exactly(kit):
    data = kit.encode(kit.photo((300, 300), seed=5), "PNG")
    with _tiny(max_base64_chars=40_000):
        prepared = prepare_image(data, target="tiny", policy="downscale")
    assert 4 * -(-len(prepared.data) // 3) <= 40_000


def test_crop_around_mask_sends_the_bounding_box_with_margin(kit):
    data = kit.encode(kit.photo((400, 300)), "PNG")
    with _tiny(max_side=200):
        image, mask = prepare_pair(
            data, [(300, 100, 340, 150)], target="tiny", policy="crop_around_mask", margin=20
        )
    assert image.crop_box == (280, 80, 360, 170) and image.outcome == "cropped"
    assert image.size == mask.size == (80, 90)
    assert mask.bbox == (20, 20, 60, 70) and mask.original_data is not None


def test_crop_larger_than_the_limit_is_also_downscaled(kit):
    data = kit.encode(kit.photo((400, 300)), "PNG")
    with _tiny(max_side=100):
        image, mask = prepare_pair(
            data, [(50, 50, 350, 250)], target="tiny", policy="crop_around_mask", margin=10
        )
    assert image.outcome == "cropped_and_downscaled"
    assert max(image.size) == 100 and mask.size == image.size


def test_crop_is_widened_to_the_minimum_side(kit):
    data = kit.encode(kit.photo((5000, 300)), "PNG")
    image, _ = prepare_pair(
        data,
        [(10, 10, 12, 12)],
        target="ailabtools-remove-objects",
        policy="crop_around_mask",
        margin=0,
    )
    assert image.size == (65, 65) and image.crop_box == (0, 0, 65, 65)


def test_crop_policy_with_a_separately_prepared_mask(kit):
    data = kit.encode(kit.photo((5000, 300)), "PNG")
    full = prepare_mask([(4000, 100, 4100, 200)], image=probe_image(data))
    image = prepare_image(data, target="volcengine", policy="crop_around_mask", mask=full)
    assert image.crop_box == (3936, 36, 4164, 264)
    with pytest.raises(MaskMismatchError, match="whole upright image"):
        prepare_image(
            data,
            target="volcengine",
            policy="crop_around_mask",
            mask=prepare_mask(full, image=image),
        )


def test_pair_refuses_try_on_and_follows_orientation(kit):
    with pytest.raises(ValueError, match="takes no mask"):
        prepare_pair(b"x", [(0, 0, 1, 1)], target="ailabtools-try-on")
    data = kit.encode(
        kit.marked((120, 80)).transpose(Image.Transpose.ROTATE_90),
        "JPEG",
        exif=kit.exif_orientation(6),
    )
    image, mask = prepare_pair(data, [(0, 0, 10, 10)], target="volcengine")
    assert image.size == mask.size == (120, 80) and image.orientation_applied


def test_transparent_png_is_flattened_on_the_declared_background(kit):
    im = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    prepared = prepare_image(kit.encode(im, "PNG"), target="local", background="#00ff00")
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.getpixel((5, 5)) == (0, 255, 0)
    assert prepared.alpha_kept and prepared.background == (0, 255, 0)


def test_sources_are_bytes_paths_and_file_objects_left_untouched(kit, tmp_path):
    data = kit.encode(kit.photo((100, 100)), "JPEG")
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    from_path = prepare_image(path, target="local")
    assert from_path.source == str(path)
    assert prepare_image(str(path), target="local").data == from_path.data
    handle = io.BytesIO(b"junk" + data)
    handle.seek(4)
    assert prepare_image(handle, target="local").data == from_path.data
    assert handle.tell() == 4
    with pytest.raises(UnreadableImageError, match="does not exist") as caught:
        prepare_image(tmp_path / "missing.jpg", target="local")
    assert caught.value.source.endswith("missing.jpg")


def test_load_image_returns_a_new_upright_srgb_image(kit):
    data = kit.encode(
        kit.marked((120, 80)).transpose(Image.Transpose.ROTATE_90),
        "JPEG",
        exif=kit.exif_orientation(6),
    )
    loaded = load_image(data)
    assert loaded.image.size == (120, 80) and loaded.image.mode == "RGB"
    assert loaded.info.orientation == 6 and loaded.notes == ("applied EXIF orientation 6",)


@pytest.fixture(scope="module")
def grainy_bmp() -> bytes:
    """A 2048 px image big enough for the quality prediction (BMP: fast to write and read)."""
    grain = Image.effect_noise((2048, 2048), 40).convert("RGB")
    image = Image.blend(Image.linear_gradient("L").resize((2048, 2048)).convert("RGB"), grain, 0.3)
    buffer = io.BytesIO()
    image.save(buffer, "BMP")
    return buffer.getvalue()


@pytest.mark.parametrize("budget", [650_000, 1_000_000, 1_500_000, 2_000_000])
def test_predicted_quality_is_the_best_that_fits(grainy_bmp, budget):
    from prefect_image_edit.imaging.encode import encode

    with _tiny(max_bytes=budget):
        prepared = prepare_image(grainy_bmp, target="tiny", format="JPEG", min_quality=60)
    assert len(prepared.data) <= budget and prepared.outcome == "as_is"
    assert prepared.quality < 95
    # The next better quality on the ladder would not have fitted.
    better = encode(load_image(grainy_bmp).image, "JPEG", prepared.quality + 5)
    assert len(better) > budget


def test_mask_over_the_byte_cap_is_refused(kit):
    noise = Image.effect_noise((200, 200), 100).convert("L")  # binarises to a PNG of ~5 KB
    image = kit.encode(Image.new("RGB", (200, 200), (9, 9, 9)), "PNG")
    with _tiny(max_bytes=3000), pytest.raises(ImageTooLargeError) as caught:
        prepare_pair(image, kit.encode(noise, "PNG"), target="tiny")
    assert caught.value.limits == ("max_bytes",) and caught.value.source == "mask"
