"""Pure image helpers of the emulators: mask rules, erase without OpenCV, marks, composites."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from prefect_image_edit import inpaint as local_inpaint
from prefect_image_edit.emulators import images, painting


def _decoded(image: Image.Image, fmt: str = "PNG", **save) -> images.Decoded:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    decoded = images.decode(buffer.getvalue())
    assert decoded is not None
    return decoded


@pytest.mark.parametrize(
    ("image", "fmt", "problem"),
    [
        (Image.new("L", (8, 8)), "PNG", None),
        (Image.new("RGB", (8, 8), (9, 9, 9)), "PNG", None),
        (Image.new("RGBA", (8, 8), (9, 9, 9, 255)), "PNG", None),
        (Image.new("RGB", (8, 8), (9, 9, 8)), "PNG", "channels"),
        (Image.new("RGBA", (8, 8), (9, 9, 9, 254)), "PNG", "alpha"),
        (Image.new("LA", (8, 8)), "PNG", "mode"),
        (Image.new("1", (8, 8)), "PNG", "mode"),
        (Image.new("I;16", (8, 8)), "PNG", "mode"),
        (Image.new("L", (8, 8)), "JPEG", "PNG"),
    ],
)
def test_mask_rules(image, fmt, problem):
    found = images.mask_problem(_decoded(image, fmt))
    assert (found is None) if problem is None else (problem in found)


def test_undecodable_bytes():
    assert images.decode(b"not an image") is None


def _scene() -> tuple[Image.Image, Image.Image]:
    image = Image.new("RGB", (64, 64), (30, 140, 60))
    ImageDraw.Draw(image).rectangle((24, 24, 40, 40), fill=(250, 0, 0))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((22, 22, 42, 42), fill=255)
    return image, mask


@pytest.mark.parametrize("opencv", [True, False])
def test_erase_changes_only_the_dilated_mask(monkeypatch, opencv):
    if not opencv:
        monkeypatch.setattr(local_inpaint, "cv2", None)
    image, mask = _scene()
    out = painting.inpaint(image, mask, 3)
    assert out.getpixel((32, 32))[0] < 120  # the red square is painted over
    grown = painting.dilate(mask, 3)
    for xy in ((0, 0), (63, 63), (18, 32), (32, 46)):
        if grown.getpixel(xy) == 0:
            assert out.getpixel(xy) == image.getpixel(xy)


def test_mark_and_try_on_are_visible_and_deterministic():
    base = Image.new("RGB", (120, 120), (255, 255, 255))
    marked = painting.add_mark(base)
    assert marked.getpixel((110, 112)) != (255, 255, 255)
    assert marked.getpixel((5, 5)) == (255, 255, 255)
    person = Image.new("RGB", (100, 200), (200, 180, 160))
    top = Image.new("RGB", (50, 50), (0, 0, 200))
    first, second = painting.try_on(person, top), painting.try_on(person, top)
    assert first.tobytes() == second.tobytes()
    assert first.getpixel((50, 60))[2] > 150  # the blue top over the torso
    assert painting.try_on(person, top, size=(576, 1024)).size == (576, 1024)
