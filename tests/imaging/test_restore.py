"""restore_result: results mapped back onto the original, pixel-exact outside the mask."""

from __future__ import annotations

import dataclasses
import io
from unittest.mock import patch

import pytest
from PIL import Image, ImageChops, ImageDraw

from prefect_image_edit.errors import InputError
from prefect_image_edit.imaging import (
    LIMITS,
    Limits,
    MaskMismatchError,
    UnreadableImageError,
    UnsupportedImageError,
    load_image,
    prepare_image,
    prepare_mask,
    prepare_pair,
    restore_result,
)

MAGENTA = (255, 0, 255)


def _answer(size, colour=MAGENTA) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _outside_is_original(restored: Image.Image, original: Image.Image, region: Image.Image) -> bool:
    """Every pixel where ``region`` is 0 equals the original's."""
    keep = ImageChops.invert(region)
    diff = ImageChops.difference(restored.convert("RGB"), original)
    return (
        ImageChops.multiply(diff.convert("L").point(lambda v: 255 * (v > 0)), keep).getbbox()
        is None
    )


def _boxes_mask(size, boxes) -> Image.Image:
    im = Image.new("L", size, 0)
    for left, top, right, bottom in boxes:
        ImageDraw.Draw(im).rectangle((left, top, right - 1, bottom - 1), fill=255)
    return im


def test_exif_rotated_photo_round_trip(kit):
    upright = kit.photo((120, 80))
    data = kit.encode(
        upright.transpose(Image.Transpose.ROTATE_90), "PNG", exif=kit.exif_orientation(6)
    )
    image, mask = prepare_pair(data, [(30, 20, 60, 50)], target="volcengine")
    out = _decode(restore_result(_answer(image.size), image, mask=mask))
    assert out.size == (120, 80) and out.format == "PNG" and not out.getexif()
    assert _outside_is_original(out, upright, _boxes_mask((120, 80), [(30, 20, 60, 50)]))
    assert out.getpixel((45, 35)) == MAGENTA


def test_downscaled_round_trip_and_vendor_result_at_another_size(kit):
    original = kit.photo((600, 300))
    data = kit.encode(original, "PNG")
    with patch.dict(LIMITS, {"tiny": Limits("tiny", frozenset({"PNG", "JPEG"}), 16, 200)}):
        image, mask = prepare_pair(
            data, [(100, 100, 180, 160)], target="tiny", policy="downscale", dilate=2
        )
    assert image.size == (200, 100)
    # Vendors may answer at another size with the same aspect ratio.
    out = _decode(restore_result(_answer((400, 200)), image, mask=mask, output_format="PNG"))
    region = _boxes_mask((600, 300), [(98, 98, 182, 162)])
    assert _outside_is_original(out, original, region)
    assert out.getpixel((140, 130)) == MAGENTA


def test_cropped_round_trip_stitches_the_crop_back(kit):
    original = kit.photo((5000, 200))
    data = kit.encode(original, "PNG")
    image, mask = prepare_pair(
        data, [(4500, 50, 4600, 150)], target="volcengine", policy="crop_around_mask"
    )
    assert image.outcome == "cropped"
    out = _decode(restore_result(_answer(image.size), image, mask=mask, dilate=3))
    region = _boxes_mask((5000, 200), [(4497, 47, 4603, 153)])
    assert out.size == (5000, 200) and _outside_is_original(out, original, region)
    assert out.getpixel((4550, 100)) == MAGENTA


def test_alpha_is_restored_and_jpeg_drops_it(kit):
    im = Image.new("RGBA", (100, 100), (10, 200, 10, 255))
    ImageDraw.Draw(im).rectangle((0, 0, 49, 99), fill=(10, 200, 10, 60))
    data = kit.encode(im, "PNG")
    image, mask = prepare_pair(data, [(60, 10, 90, 40)], target="local")
    png = _decode(restore_result(_answer(image.size), image, mask=mask))
    assert png.mode == "RGBA" and png.getchannel("A").tobytes() == im.getchannel("A").tobytes()
    webp = _decode(
        restore_result(_answer(image.size), image, mask=mask, output_format="webp", quality=100)
    )
    assert webp.format == "WEBP" and webp.mode == "RGBA"
    jpeg = _decode(
        restore_result(_answer(image.size), image, mask=mask, output_format="JPEG", quality=90)
    )
    assert jpeg.format == "JPEG" and jpeg.mode == "RGB"


def test_try_on_without_mask_replaces_the_whole_image(kit):
    data = kit.encode(kit.photo((200, 300)), "JPEG")
    image = prepare_image(data, target="ailabtools-try-on")
    out = _decode(restore_result(_answer(image.size), image))
    assert out.getcolors() == [(200 * 300, MAGENTA)]


def test_sent_frame_mask_without_its_original_is_scaled_back(kit):
    original = kit.photo((400, 200))
    data = kit.encode(original, "PNG")
    with patch.dict(LIMITS, {"tiny": Limits("tiny", frozenset({"PNG"}), 16, 100)}):
        image, mask = prepare_pair(data, [(100, 50, 200, 150)], target="tiny", policy="downscale")
    sent_only = dataclasses.replace(mask, original_data=None)
    out = _decode(restore_result(_answer(image.size), image, mask=sent_only))
    # Mapped back from 100x50 to 400x200: the region grows by at most one sent pixel (4 px).
    assert _outside_is_original(out, original, _boxes_mask((400, 200), [(96, 46, 204, 154)]))


def test_mask_and_original_from_another_image_are_refused(kit):
    data = kit.encode(kit.photo((120, 120)), "PNG")
    image, _ = prepare_pair(data, [(10, 10, 20, 20)], target="local")
    other = prepare_mask([(10, 10, 20, 20)], image=(100, 100))
    with pytest.raises(MaskMismatchError):
        restore_result(_answer(image.size), image, mask=other)
    with pytest.raises(InputError, match="not the file"):
        restore_result(
            _answer(image.size), image, original=kit.encode(kit.photo((120, 120), seed=9), "PNG")
        )
    light = dataclasses.replace(image, data=b"", original=b"")
    assert restore_result(_answer(image.size), light, original=data)


def test_bad_results_are_typed_errors(kit):
    image = prepare_image(kit.encode(kit.photo((120, 80)), "PNG"), target="local")
    with pytest.raises(UnsupportedImageError, match="aspect ratios differ") as caught:
        restore_result(_answer((80, 80)), image)
    assert caught.value.source == "result"
    with pytest.raises(UnreadableImageError):
        restore_result(b"<html>502 Bad Gateway</html>", image)
    with pytest.raises(ValueError, match="PNG, JPEG, WEBP"):
        restore_result(_answer(image.size), image, output_format="GIF")


def test_restored_pixels_equal_the_loaded_original(kit):
    data = kit.encode(
        Image.new("RGB", (90, 90), (200, 100, 50)), "PNG", icc_profile=kit.display_p3_icc()
    )
    image, mask = prepare_pair(data, [(0, 0, 10, 10)], target="local")
    out = _decode(restore_result(_answer(image.size), image, mask=mask))
    assert out.getpixel((50, 50)) == load_image(data).image.getpixel((50, 50))
