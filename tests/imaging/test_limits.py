"""The limits table: every boundary as the vendors word it, and the preflight."""

from __future__ import annotations

import pickle

import pytest
from PIL import Image

from prefect_image_edit.errors import InputError
from prefect_image_edit.imaging import LIMITS, LimitError, base64_length, get_limits, preflight
from prefect_image_edit.imaging.errors import ImageTooLargeError, LimitViolation

# (target, largest side refused below, smallest accepted, largest accepted, smallest refused above)
SIDES = [
    (
        "ailabtools-remove-objects",
        64,
        65,
        4095,
        4096,
    ),  # "larger than 64x64, smaller than 4096x4096"
    ("ailabtools-try-on", 150, 151, 4095, 4096),  # "larger than 150x150, smaller than 4096x4096"
    ("tencent", 63, 64, 4999, 5000),  # "each side < 5000"; the pack's 64 px floor
    ("volcengine", 63, 64, 4096, 4097),  # "最小 64x64，最大 4096x4096" (inclusive)
    ("local", 63, 64, 8192, 8193),  # the pack's own sane maximum
]


@pytest.mark.parametrize(("target", "too_small", "low", "high", "too_big"), SIDES)
def test_side_boundaries(target, too_small, low, high, too_big):
    limits = get_limits(target)
    assert not limits.check_size((low, high)) and not limits.check_size((high, low))
    assert [v.limit for v in limits.check_size((too_small, low))] == ["min_side"]
    assert [v.limit for v in limits.check_size((low, too_big))] == ["max_side"]


def test_byte_caps():
    for target in ("ailabtools-remove-objects", "ailabtools-try-on", "volcengine"):
        limits = get_limits(target)
        assert not limits.check_bytes(5_000_000)  # "no more than 5 MB", MB = 10**6
        assert [v.limit for v in limits.check_bytes(5_000_001)] == ["max_bytes"]
        assert limits.byte_budget == 5_000_000
    assert get_limits("local").byte_budget is None and not get_limits("local").check_bytes(10**9)


def test_tencent_base64_cap_is_exact():
    tencent = get_limits("tencent")
    assert base64_length(4_499_997) == 5_999_996 and base64_length(4_499_998) == 6_000_000
    assert not tencent.check_bytes(4_499_997)
    (violation,) = tencent.check_bytes(4_499_998)
    assert violation.limit == "max_base64_chars" and violation.value == 6_000_000
    assert violation.bound == 5_999_999 and violation.unit == "characters"
    assert tencent.byte_budget == 4_499_997


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 299, 300, 301])
def test_base64_length_matches_the_encoder(n):
    import base64

    assert base64_length(n) == len(base64.b64encode(b"\0" * n))


def test_formats_and_masks():
    assert LIMITS["tencent"].formats >= {"JPEG", "PNG", "BMP", "TIFF", "WEBP"}
    assert not LIMITS["volcengine"].check_format("MPO")  # phone JPEGs
    assert [v.limit for v in LIMITS["volcengine"].check_format("WEBP")] == ["formats"]
    assert not LIMITS["ailabtools-try-on"].takes_mask
    assert all(limits.takes_mask for name, limits in LIMITS.items() if name != "ailabtools-try-on")


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(ValueError, match="ailabtools-remove-objects, ailabtools-try-on, local"):
        get_limits("openai")


def test_preflight_names_every_limit_a_raw_file_breaks(kit):
    data = kit.encode(Image.new("RGB", (4096, 100)), "TIFF")
    report = preflight(data, "volcengine")
    assert report.ok is False
    assert [(v.limit, v.value) for v in report.violations] == [("formats", "TIFF")]
    report = preflight(data, "ailabtools-remove-objects")
    assert {v.limit for v in report.violations} == {"max_side", "formats"}
    assert "4096 px is over max_side 4095 px" in report.violations[0].describe()
    rotated = kit.encode(Image.new("RGB", (100, 150)), "JPEG", exif=kit.exif_orientation(6))
    assert preflight(rotated, "ailabtools-try-on").info.size == (150, 100)
    assert [v.value for v in preflight(rotated, "ailabtools-try-on").violations] == [150, 100]


def test_limit_errors_carry_their_violations_through_pickling():
    violation = LimitViolation("volcengine", "max_side", 5000, 4096, "px")
    error = ImageTooLargeError("too large", violations=(violation,), source="a.jpg")
    copy = pickle.loads(pickle.dumps(error))
    assert (
        isinstance(copy, LimitError)
        and isinstance(copy, InputError)
        and isinstance(copy, ValueError)
    )
    assert (
        copy.violations == (violation,)
        and copy.source == "a.jpg"
        and str(copy) == "a.jpg: too large"
    )
    assert copy.limits == ("max_side",)
