"""Mask sources, normalisation, framing and refusals."""

from __future__ import annotations

import dataclasses
import io
import random

import pytest
from PIL import Image, ImageDraw, ImageFilter

from prefect_image_edit.imaging import (
    AlphaMask,
    BoxMask,
    EmptyMaskError,
    FullMaskError,
    MaskMismatchError,
    PolygonMask,
    UnreadableImageError,
    prepare_image,
    prepare_mask,
    prepare_pair,
    probe_image,
)
from prefect_image_edit.imaging import morphology as morph


def _open(prepared) -> Image.Image:
    im = Image.open(io.BytesIO(prepared.data))
    im.load()
    return im


def _disc(size=(60, 40), box=(10, 10, 30, 30), fill=255, blur=0.0) -> Image.Image:
    im = Image.new("L", size, 0)
    ImageDraw.Draw(im).ellipse(box, fill=fill)
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


def test_anti_aliased_mask_becomes_clean_zero_and_255(kit):
    soft = _disc(blur=2.0)
    assert len(set(soft.tobytes())) > 10
    mask = prepare_mask(kit.encode(soft, "PNG"), image=(60, 40))
    im = _open(mask)
    assert set(im.tobytes()) == {0, 255}
    assert mask.coverage == im.histogram()[255] / (60 * 40)
    assert mask.bbox == im.getbbox()


def test_jpeg_mask_with_ringing_is_binarised(kit):
    data = kit.encode(_disc(), "JPEG", quality=30)
    im = _open(prepare_mask(data, image=(60, 40)))
    assert set(im.tobytes()) == {0, 255}
    reference = _disc()
    wrong = sum(a != b for a, b in zip(im.tobytes(), reference.tobytes(), strict=True))
    assert wrong < 0.02 * 60 * 40


def test_mask_with_icc_profile_and_exif_comes_out_without_either(kit):
    data = kit.encode(_disc(), "PNG", icc_profile=kit.gray_icc(), exif=kit.exif_orientation(1))
    im = _open(prepare_mask(data, image=(60, 40)))
    assert im.mode == "L" and "icc_profile" not in im.info and "exif" not in im.info


@pytest.mark.parametrize("mode", ["RGB", "P", "1", "I;16", "CMYK"])
def test_mask_images_of_any_mode(kit, mode):
    disc = _disc()
    im = (
        disc.point(lambda v: v * 257, "I").convert("I;16") if mode == "I;16" else disc.convert(mode)
    )
    data = kit.encode(im, "TIFF" if mode == "CMYK" else "PNG")
    expected = (
        disc
        if mode != "CMYK"
        else disc.convert("CMYK").convert("L").point(lambda v: 255 * (v >= 128))
    )
    assert _open(prepare_mask(data, image=(60, 40))).tobytes() == expected.tobytes()


def test_white_strokes_on_a_transparent_layer_erase(kit):
    layer = Image.new("RGBA", (60, 40), (255, 255, 255, 0))
    ImageDraw.Draw(layer).rectangle((5, 5, 14, 14), fill=(255, 255, 255, 255))
    mask = prepare_mask(kit.encode(layer, "PNG"), image=(60, 40))
    assert mask.bbox == (5, 5, 15, 15)


def test_alpha_mask_transparent_erases_and_invert_swaps(kit):
    photo = Image.new("RGBA", (60, 40), (10, 20, 30, 255))
    ImageDraw.Draw(photo).rectangle((20, 10, 29, 19), fill=(0, 0, 0, 0))
    data = kit.encode(photo, "PNG")
    mask = prepare_mask(AlphaMask(data), image=(60, 40))
    assert mask.bbox == (20, 10, 30, 20)
    inverted = prepare_mask(AlphaMask(data), image=(60, 40), invert=True)
    assert inverted.coverage == pytest.approx(1 - 100 / 2400)


def test_alpha_threshold_half_transparent_erases(kit):
    photo = Image.new("LA", (64, 64), (0, 255))
    photo.putpixel((1, 1), (0, 127))  # more than half transparent: erases
    photo.putpixel((3, 3), (0, 128))  # half opaque: keeps
    mask = prepare_mask(AlphaMask(kit.encode(photo, "PNG")), image=(64, 64))
    assert mask.bbox == (1, 1, 2, 2)


def test_alpha_mask_without_alpha_is_empty(kit):
    with pytest.raises(EmptyMaskError, match="no alpha channel"):
        prepare_mask(AlphaMask(kit.encode(Image.new("RGB", (64, 64)), "PNG")), image=(64, 64))


def test_boxes_are_exclusive_and_fractions_round_outwards():
    mask = prepare_mask([(10, 5, 20, 15)], image=(64, 64))
    assert mask.bbox == (10, 5, 20, 15) and mask.coverage == 100 / 4096
    assert prepare_mask(BoxMask(((10.5, 5.2, 19.1, 14.9),)), image=(64, 64)).bbox == (10, 5, 20, 15)
    assert prepare_mask([(-5, -5, 3, 3)], image=(64, 64)).bbox == (0, 0, 3, 3)


def test_polygons():
    mask = prepare_mask([[(0, 0), (20, 0), (0, 20)]], image=(64, 64))
    assert mask.bbox == (0, 0, 21, 21)
    assert prepare_mask(PolygonMask((((5, 5), (9, 5), (9, 9), (5, 9)),)), image=(64, 64)).bbox == (
        5,
        5,
        10,
        10,
    )


@pytest.mark.parametrize(
    "spec",
    [
        [],
        [(1, 2, 3)],
        [(5, 5, 5, 9)],
        [[(0, 0), (1, 1)]],
        [("a", 0, 1, 1)],
        [(0, 0, float("nan"), 1)],
    ],
)
def test_bad_shapes_say_what_is_accepted(spec):
    with pytest.raises(ValueError, match=r"left < right|polygon|boxes \[\("):
        prepare_mask(spec, image=(64, 64))


def test_empty_full_and_allow_full():
    with pytest.raises(EmptyMaskError, match="invert=True"):
        prepare_mask([(100, 100, 120, 120)], image=(64, 64))
    with pytest.raises(FullMaskError, match="allow_full=True"):
        prepare_mask([(0, 0, 64, 64)], image=(64, 64))
    assert prepare_mask([(0, 0, 64, 64)], image=(64, 64), allow_full=True).coverage == 1.0
    with pytest.raises(EmptyMaskError):
        prepare_mask([(0, 0, 64, 64)], image=(64, 64), invert=True)
    with pytest.raises(EmptyMaskError):
        prepare_mask([(10, 10, 12, 12)], image=(64, 64), erode=1)


def test_aspect_ratio_mismatch_is_refused_and_resize_is_nearest(kit):
    with pytest.raises(MaskMismatchError, match="aspect ratios differ") as caught:
        prepare_mask(kit.encode(Image.new("L", (50, 50), 255), "PNG"), image=(120, 60))
    assert caught.value.source == "mask"
    small = Image.new("L", (30, 20), 0)
    small.putpixel((0, 0), 255)
    mask = prepare_mask(kit.encode(small, "PNG"), image=(60, 40))
    assert mask.bbox == (0, 0, 2, 2) and set(_open(mask).tobytes()) == {0, 255}


def test_stored_frame_mask_follows_the_image_orientation(kit):
    upright = kit.marked((120, 80))
    image = kit.encode(
        upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=kit.exif_orientation(6)
    )
    # Drawn on the stored (80x120) pixels: the square at the upright top-left lands at
    # the stored bottom-left.
    stored = Image.new("L", (80, 120), 0)
    ImageDraw.Draw(stored).rectangle((0, 110, 9, 119), fill=255)
    mask = prepare_mask(kit.encode(stored, "PNG"), image=probe_image(image))
    assert mask.size == (120, 80) and mask.bbox == (0, 0, 10, 10)
    assert any("mask frame: stored" in step for step in mask.steps)
    # The same mask drawn upright (120x80) is taken as is.
    shown = Image.new("L", (120, 80), 0)
    ImageDraw.Draw(shown).rectangle((0, 0, 9, 9), fill=255)
    assert prepare_mask(kit.encode(shown, "PNG"), image=probe_image(image)).bbox == (0, 0, 10, 10)


def test_mask_with_its_own_orientation_is_turned_upright(kit):
    image = kit.encode(Image.new("RGB", (80, 120)), "JPEG", exif=kit.exif_orientation(6))
    stored = Image.new("L", (80, 120), 0)
    ImageDraw.Draw(stored).rectangle((0, 110, 9, 119), fill=255)
    data = kit.encode(stored, "JPEG", exif=kit.exif_orientation(6), quality=95)
    assert prepare_mask(data, image=probe_image(image)).bbox == (0, 0, 10, 10)


def test_explicit_frames_for_square_orientation(kit):
    image = kit.encode(Image.new("RGB", (80, 80)), "JPEG", exif=kit.exif_orientation(3))
    info = probe_image(image)
    boxes = [(0, 0, 10, 10)]
    assert prepare_mask(boxes, image=info).bbox == (0, 0, 10, 10)  # shapes: upright
    assert prepare_mask(boxes, image=info, frame="stored").bbox == (70, 70, 80, 80)
    corner = Image.new("L", (80, 80), 0)
    corner.paste(255, (0, 0, 10, 10))
    data = kit.encode(corner, "PNG")
    assert prepare_mask(data, image=info).bbox == (70, 70, 80, 80)  # ambiguous: stored
    assert prepare_mask(data, image=info, frame="display").bbox == (0, 0, 10, 10)
    with pytest.raises(ValueError, match="frame must be"):
        prepare_mask(data, image=info, frame="upright")


def test_mask_follows_a_downscaled_image_and_keeps_thin_strokes(kit):
    data = kit.encode(Image.new("RGB", (8000, 200)), "PNG")
    image = prepare_image(data, target="volcengine", policy="downscale")
    assert image.size == (4096, 102) and image.outcome == "downscaled"
    line = [(4001, 0, 4002, 200)]  # 1 px wide: nearest-neighbour would drop it
    mask = prepare_mask(line, image=image)
    assert mask.size == image.size and mask.coverage > 0
    assert mask.original_data is not None


def test_mask_outside_a_crop_made_for_another_mask_is_refused(kit):
    data = kit.encode(Image.new("RGB", (5000, 100)), "PNG")
    image, _ = prepare_pair(
        data, [(10, 10, 20, 20)], target="volcengine", policy="crop_around_mask"
    )
    assert image.frame.cropped
    with pytest.raises(MaskMismatchError, match="prepare_pair"):
        prepare_mask([(4000, 10, 4010, 20)], image=image)
    inside = prepare_mask([(12, 12, 14, 14)], image=image)
    assert inside.size == image.size


def test_prepared_mask_can_be_framed_again(kit):
    data = kit.encode(Image.new("RGB", (5000, 100)), "PNG")
    full = prepare_mask([(10, 10, 20, 20)], image=probe_image(data))
    image = prepare_image(data, target="volcengine", policy="crop_around_mask", mask=full)
    sent = prepare_mask(full, image=image)
    assert sent.size == image.size and sent.original_data is not None
    assert image.crop_box[0] <= 10 and image.crop_box[2] >= 20


def test_sources_and_parameters_are_validated(kit):
    with pytest.raises(UnreadableImageError, match="empty") as caught:
        prepare_mask(b"", image=(64, 64))
    assert caught.value.source == "mask"
    with pytest.raises(ValueError, match="threshold"):
        prepare_mask([(0, 0, 5, 5)], image=(64, 64), threshold=0)
    with pytest.raises(ValueError, match="dilate"):
        prepare_mask([(0, 0, 5, 5)], image=(64, 64), dilate=-1)
    with pytest.raises(ValueError, match="PreparedImage"):
        prepare_mask([(0, 0, 5, 5)], image="photo.jpg")


def test_prepared_mask_is_immutable_and_repr_has_no_bytes():
    mask = prepare_mask([(0, 0, 5, 5)], image=(64, 64))
    with pytest.raises(dataclasses.FrozenInstanceError):
        mask.coverage = 0.5  # type: ignore[misc]
    assert "data=" not in repr(mask)


@pytest.mark.parametrize("seed", range(20))
def test_dilate_and_erode_match_pillow_rank_filters(seed):
    rng = random.Random(seed)
    w, h = rng.randint(1, 30), rng.randint(1, 30)
    im = Image.new("L", (w, h), 0)
    for _ in range(rng.randint(0, 8)):
        x, y = rng.randrange(w), rng.randrange(h)
        ImageDraw.Draw(im).rectangle((x, y, x + rng.randint(0, 5), y + rng.randint(0, 5)), fill=255)
    px = rng.randint(1, 7)
    assert morph.dilate(im, px).tobytes() == im.filter(ImageFilter.MaxFilter(2 * px + 1)).tobytes()
    assert morph.erode(im, px).tobytes() == im.filter(ImageFilter.MinFilter(2 * px + 1)).tobytes()
    assert morph.dilate(im, 0).tobytes() == im.tobytes() and morph.dilate(im, 0) is not im


def test_shrink_any_keeps_a_one_pixel_line():
    im = Image.new("L", (100, 10), 0)
    im.paste(255, (36, 0, 37, 10))
    assert morph.shrink_any(im, (50, 5)).getbbox() is not None
    assert im.resize((50, 5), Image.Resampling.NEAREST).getbbox() is None
