"""Reading sources, Pillow's failures as typed errors, colour conversion, geometry helpers."""

from __future__ import annotations

import io
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from prefect_image_edit.imaging import (
    DecompressionBombError,
    UnreadableImageError,
    UnsupportedImageError,
    load_image,
    probe_image,
)
from prefect_image_edit.imaging.colour import parse_color, to_8bit_gray
from prefect_image_edit.imaging.geometry import (
    apply_orientation,
    aspect_matches,
    crop_around,
    fit_within,
    oriented_size,
)
from prefect_image_edit.imaging.sources import read_source


def test_read_source_kinds(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    assert read_source(b"abc") == (b"abc", "<bytes>")
    assert read_source(bytearray(b"abc"), default_name="mask") == (b"abc", "mask")
    assert read_source(path) == (b"abc", str(path))
    with open(path, "rb") as handle:
        assert read_source(handle) == (b"abc", str(path))
    with pytest.raises(UnreadableImageError, match="is a directory"):
        read_source(tmp_path)
    with open(path) as text, pytest.raises(UnreadableImageError, match="text mode"):
        read_source(text)
    with pytest.raises(UnreadableImageError, match="got int"):
        read_source(42)  # type: ignore[arg-type]


def test_base64_passed_as_a_path_is_not_echoed():
    with pytest.raises(UnreadableImageError) as caught:
        read_source("iVBORw0KGgo" * 200)
    assert caught.value.source == "<str of 2200 characters>"
    assert "iVBOR" not in str(caught.value)


def test_bomb_guard_follows_pillows_setting_and_says_so(kit, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = kit.encode(Image.new("RGB", (70, 70)), "PNG")  # 4900 px > 2 x 1000
    with pytest.raises(DecompressionBombError, match="decompression-bomb guard") as caught:
        load_image(data)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)  # over 1x: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert load_image(data).image.size == (70, 70)


def test_damaged_icc_profile_is_an_error_not_a_colour_shift(kit):
    data = kit.encode(Image.new("RGB", (70, 70)), "PNG", icc_profile=b"\0" * 200)
    with pytest.raises(UnsupportedImageError, match="ICC colour profile is damaged"):
        load_image(data)


def test_probe_reads_only_the_header(kit):
    data = kit.encode(Image.new("RGB", (300, 200)), "JPEG", exif=kit.exif_orientation(8))
    info = probe_image(data)
    assert (info.format, info.mode, info.size, info.orientation) == ("JPEG", "RGB", (200, 300), 8)
    assert info.frame.stored_size == (300, 200) and info.nbytes == len(data) and info.frames == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillows_exif_transpose(kit, orientation):
    im = kit.photo((30, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = Image.open(io.BytesIO(kit.encode(im, "PNG", exif=exif.tobytes())))
    expected = ImageOps.exif_transpose(tagged)
    assert apply_orientation(im, orientation).tobytes() == expected.tobytes()
    assert oriented_size(im.size, orientation) == expected.size


def test_sixteen_bit_and_float_scaling():
    grey = Image.new("I;16", (3, 1))
    for x, value in enumerate((0, 257 * 100, 65535)):
        grey.putpixel((x, 0), value)
    assert list(to_8bit_gray(grey).tobytes()) == [0, 100, 255]
    assert to_8bit_gray(Image.new("F", (1, 1), 0.5)).getpixel((0, 0)) == 128
    assert to_8bit_gray(Image.new("F", (1, 1), 300.0)).getpixel((0, 0)) == 255
    assert to_8bit_gray(Image.new("I", (1, 1), 200)).getpixel((0, 0)) == 200


def test_parse_color():
    assert parse_color((1, 2, 3)) == (1, 2, 3)
    assert parse_color("white") == (255, 255, 255)
    for bad in ((1, 2), (1, 2, 256), "not-a-colour", (1.0, 2, 3), None):
        with pytest.raises(ValueError, match=r"\(r, g, b\)"):
            parse_color(bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_display_p3_converts_like_the_reference_matrix(kit, r, g, b):
    data = kit.encode(
        Image.new("RGB", (64, 64), (r, g, b)), "PNG", icc_profile=kit.display_p3_icc()
    )
    got = load_image(data).image.getpixel((0, 0))
    expected = kit.p3_to_srgb((r, g, b))
    assert all(abs(x - y) <= 1.5 for x, y in zip(got, expected, strict=True)), (got, expected)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(16, 4999))
def test_fit_within_is_the_largest_fitting_size(w, h, max_side):
    fw, fh = fit_within((w, h), max_side)
    assert fw <= max_side and fh <= max_side and fw <= w and fh <= h
    if max(w, h) > max_side:
        assert max(fw, fh) == max_side
        assert aspect_matches((w, h), (fw, fh)) or min(fw, fh) <= 2
    else:
        assert (fw, fh) == (w, h)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 400),
    st.integers(1, 400),
    st.data(),
    st.integers(0, 50),
    st.integers(1, 200),
)
def test_crop_around_holds_the_box_inside_the_image(w, h, data, margin, min_side):
    left = data.draw(st.integers(0, w - 1))
    top = data.draw(st.integers(0, h - 1))
    bbox = (left, top, data.draw(st.integers(left + 1, w)), data.draw(st.integers(top + 1, h)))
    box = crop_around(bbox, (w, h), margin=margin, min_side=min_side)
    assert 0 <= box[0] <= bbox[0] and 0 <= box[1] <= bbox[1]
    assert bbox[2] <= box[2] <= w and bbox[3] <= box[3] <= h
    assert box[2] - box[0] >= min(min_side, w) and box[3] - box[1] >= min(min_side, h)
    assert box[0] <= max(0, bbox[0] - margin) or box[2] - box[0] <= max(
        min_side, bbox[2] - bbox[0] + 2 * margin
    )
