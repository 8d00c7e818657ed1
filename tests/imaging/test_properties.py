"""Property-based invariants (hypothesis), on small images so the whole run stays fast.

- A normalised mask is mode L, only 0 and 255, the sent image's size, with no ICC or EXIF.
- A prepared image meets its target's limits (or the documented error says why not).
- A round trip through ``crop_around_mask`` or ``downscale`` and back leaves every pixel
  outside the dilated mask identical to the original's, and fills the mask from the result.

Targets with tiny limits (patched into ``LIMITS`` for one example) make the policies work
hard on 30-120 px images; the real targets are held to their own limits at their minimums.
"""

from __future__ import annotations

import io
from unittest.mock import patch

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter

from prefect_image_edit.imaging import (
    LIMITS,
    EmptyMaskError,
    FullMaskError,
    ImageTooLargeError,
    ImageTooSmallError,
    Limits,
    MaskMismatchError,
    load_image,
    prepare_image,
    prepare_mask,
    prepare_pair,
    probe_image,
    restore_result,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = {"L": 1, "RGB": 3, "RGBA": 4, "LA": 2, "1": 1, "P": 1, "I;16": 2, "CMYK": 4}


def _encode(im: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


@st.composite
def images(draw, min_side=8, max_side=40, modes=tuple(MODES)):
    """A random-content image in a random mode."""
    w = draw(st.integers(min_side, max_side))
    h = draw(st.integers(min_side, max_side))
    mode = draw(st.sampled_from(modes))
    seed = draw(st.binary(min_size=16, max_size=16))
    raw = (seed * ((w * h * MODES[mode]) // 16 + 1))[: w * h * MODES[mode]]
    if mode == "1":
        return Image.frombytes("L", (w, h), raw).convert("1")
    if mode == "P":
        im = Image.frombytes("L", (w, h), raw).convert("P")
        im.putpalette(bytes(range(256)) * 3)
        return im
    return Image.frombytes(mode, (w, h), raw)


def _assert_clean_mask(prepared, size):
    with Image.open(io.BytesIO(prepared.data)) as im:
        assert im.format == "PNG" and im.mode == "L"
        assert im.size == size == prepared.size
        assert "icc_profile" not in im.info and "exif" not in im.info
        assert not im.getexif()
        histogram = im.histogram()
        assert sum(histogram[1:255]) == 0
        assert abs(histogram[255] / (size[0] * size[1]) - prepared.coverage) < 1e-9
        assert im.getbbox() == prepared.bbox


@st.composite
def mask_images(draw):
    """An anti-aliased blob on a background, in a random mode (alpha modes paint with alpha)."""
    w, h = draw(st.integers(6, 40)), draw(st.integers(6, 40))
    low, high = draw(st.integers(0, 100)), draw(st.integers(156, 255))
    canvas = Image.new("L", (w, h), low)
    x0, y0 = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
    x1, y1 = draw(st.integers(x0 + 1, w)), draw(st.integers(y0 + 1, h))
    ImageDraw.Draw(canvas).ellipse((x0, y0, x1, y1), fill=high)
    canvas = canvas.filter(ImageFilter.GaussianBlur(draw(st.sampled_from([0, 0.7, 1.5]))))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "LA", "1", "P", "I;16", "JPEG"]))
    if mode in ("RGBA", "LA"):  # white paint, strength in the alpha channel
        return Image.merge(mode, (*[Image.new("L", (w, h), 255)] * (len(mode) - 1), canvas))
    if mode == "I;16":
        return canvas.point(lambda v: v * 257, "I").convert("I;16")
    if mode == "JPEG":  # a lossy mask: ringing around the edges
        with Image.open(io.BytesIO(_encode(canvas, "JPEG", quality=40))) as im:
            return im.convert("L")
    return canvas.convert(mode)


@FAST
@given(
    mask=mask_images(),
    scale=st.sampled_from([1, 2, 3]),
    orientation=st.integers(1, 8),
    icc=st.booleans(),
    threshold=st.one_of(st.integers(101, 155), st.integers(1, 255)),
    dilate=st.integers(0, 3),
    erode=st.integers(0, 2),
    invert=st.booleans(),
)
def test_normalised_mask_is_binary_l_of_image_size_without_metadata(
    kit, mask, scale, orientation, icc, threshold, dilate, erode, invert
):
    params = {}
    if icc and mask.mode in ("RGB", "RGBA"):
        params["icc_profile"] = kit.display_p3_icc()
    elif icc and mask.mode == "L":
        params["icc_profile"] = kit.gray_icc()
    data = _encode(mask, **params)
    # The image: the mask's stored size times ``scale``, with an EXIF orientation.
    stored = (mask.width * scale, mask.height * scale)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = _encode(Image.new("RGB", stored, (9, 9, 9)), "JPEG", exif=exif.tobytes())
    try:
        prepared = prepare_mask(
            data,
            image=probe_image(image),
            threshold=threshold,
            dilate=dilate,
            erode=erode,
            invert=invert,
        )
    except (EmptyMaskError, FullMaskError) as exc:
        event(type(exc).__name__)
        return
    _assert_clean_mask(prepared, probe_image(image).size)


def _tiny(target: str, max_side: int, max_bytes: int | None) -> dict[str, Limits]:
    return {target: Limits(target, frozenset({"JPEG", "PNG"}), 16, max_side, max_bytes)}


@FAST
@given(
    image=images(min_side=30, max_side=120, modes=("RGB", "RGBA", "L", "P", "CMYK", "I;16")),
    max_side=st.integers(24, 130),
    max_bytes=st.one_of(st.none(), st.integers(1500, 40_000)),
    policy=st.sampled_from(["fail", "downscale"]),
    fmt=st.sampled_from(["PNG", "JPEG", "TIFF"]),
)
def test_prepared_image_meets_its_targets_limits(image, max_side, max_bytes, policy, fmt):
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    if fmt == "PNG" and image.mode == "CMYK":
        fmt = "TIFF"
    data = _encode(image, fmt)
    with patch.dict(LIMITS, _tiny("tiny", max_side, max_bytes)):
        try:
            prepared = prepare_image(data, target="tiny", policy=policy)
        except ImageTooLargeError as exc:
            assert policy == "fail" or exc.reason.startswith("no size fits")
            assert set(exc.limits) <= {"max_side", "max_bytes", "min_side"}
            event(f"refused: {policy}")
            return
        assert not LIMITS["tiny"].check(prepared.size, len(prepared.data), prepared.format)
    event(prepared.outcome + (f", quality {prepared.quality}" if prepared.quality else ""))
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.size == prepared.size and sent.mode == "RGB"
    assert prepared.outcome == ("downscaled" if prepared.frame.scaled else "as_is")


@settings(max_examples=30, deadline=None)
@given(
    target=st.sampled_from(sorted(LIMITS)),
    width=st.integers(60, 160),
    height=st.integers(60, 160),
)
def test_real_targets_accept_or_refuse_small_images_by_their_table(target, width, height):
    limits = LIMITS[target]
    data = _encode(Image.new("RGB", (width, height), (200, 10, 10)))
    try:
        prepared = prepare_image(data, target=target)
    except ImageTooSmallError as exc:
        assert min(width, height) < limits.min_side
        assert exc.limits and set(exc.limits) == {"min_side"}
        return
    assert min(width, height) >= limits.min_side
    assert not limits.check(prepared.size, len(prepared.data), prepared.format)


@st.composite
def round_trips(draw):
    w, h = draw(st.integers(40, 110)), draw(st.integers(40, 110))
    boxes = []
    for _ in range(draw(st.integers(1, 3))):
        x0, y0 = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
        boxes.append((x0, y0, draw(st.integers(x0 + 1, w)), draw(st.integers(y0 + 1, h))))
    return {
        "size": (w, h),
        "boxes": boxes,
        "seed": draw(st.binary(min_size=16, max_size=16)),
        "alpha": draw(st.booleans()),
        "policy": draw(st.sampled_from(["crop_around_mask", "downscale"])),
        "max_side": draw(st.integers(24, 100)),
        "margin": draw(st.integers(0, 12)),
        "dilate": draw(st.integers(0, 3)),
        "restore_dilate": draw(st.integers(0, 2)),
        "result_scale": draw(st.sampled_from([1, 2])),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=round_trips())
def test_round_trip_keeps_every_pixel_outside_the_dilated_mask(case):
    w, h = case["size"]
    mode = "RGBA" if case["alpha"] else "RGB"
    raw = (case["seed"] * (w * h * 4 // 16 + 1))[: w * h * len(mode)]
    original = _encode(Image.frombytes(mode, (w, h), raw))
    with patch.dict(LIMITS, _tiny("tiny", case["max_side"], None)):
        try:
            image, mask = prepare_pair(
                original,
                case["boxes"],
                target="tiny",
                policy=case["policy"],
                margin=case["margin"],
                dilate=case["dilate"],
                allow_full=True,
            )
        except (ImageTooLargeError, MaskMismatchError) as exc:
            event(type(exc).__name__)
            return  # no size fits the tiny target (a side would go under 16 px)
    event(image.outcome)
    # The vendor: a solid magenta answer, possibly at twice the size sent.
    answer = Image.new("RGB", tuple(s * case["result_scale"] for s in image.size), (255, 0, 255))
    restored = restore_result(_encode(answer), image, mask=mask, dilate=case["restore_dilate"])

    # The reference mask, built independently: boxes, dilated with Pillow's MaxFilter.
    reference = Image.new("L", (w, h), 0)
    for left, top, right, bottom in case["boxes"]:
        ImageDraw.Draw(reference).rectangle((left, top, right - 1, bottom - 1), fill=255)
    for radius in (case["dilate"], case["restore_dilate"]):
        if radius:
            reference = reference.filter(ImageFilter.MaxFilter(2 * radius + 1))

    before = load_image(original).image
    with Image.open(io.BytesIO(restored)) as out:
        assert out.size == (w, h)
        assert out.mode == ("RGBA" if case["alpha"] else "RGB")
        if case["alpha"]:
            assert (
                out.getchannel("A").tobytes()
                == Image.frombytes(mode, (w, h), raw).getchannel("A").tobytes()
            )
        after = out.convert("RGB")
    before_px, after_px, mask_px = before.load(), after.load(), reference.load()
    for y in range(h):
        for x in range(w):
            if mask_px[x, y] == 0:
                assert after_px[x, y] == before_px[x, y], (x, y)
            elif case["restore_dilate"] == 0 and not image.frame.scaled:
                assert after_px[x, y] == (255, 0, 255), (x, y)
