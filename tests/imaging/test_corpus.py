"""A generated corpus of awkward inputs: each prepares correctly or fails with its documented error.

Every input is built here (no binary fixtures). Successful cases are held to the target's
limits by decoding what would be sent; failures must be the documented typed error, name
the file, and chain Pillow's exception when Pillow raised one.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from PIL import Image, ImageDraw

from prefect_image_edit.errors import InputError
from prefect_image_edit.imaging import (
    LIMITS,
    DecompressionBombError,
    ImageTooLargeError,
    ImageTooSmallError,
    PreparedImage,
    UnreadableImageError,
    UnsupportedImageError,
    prepare_image,
)

# Stored-frame transposes that an EXIF orientation then undoes (the inverse of each fix).
_TO_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@dataclass
class Case:
    build: Callable  # (kit) -> bytes
    target: str = "volcengine"
    error: type[InputError] | None = None
    options: dict = field(default_factory=dict)
    check: Callable | None = None  # (prepared, kit) -> None
    pillow_cause: bool = False  # the error must chain Pillow's own exception


def _oriented(orientation: int) -> Case:
    def build(kit):
        upright = kit.marked((120, 80))
        method = _TO_STORED[orientation]
        stored = upright if method is None else upright.transpose(method)
        return kit.encode(stored, "JPEG", quality=95, exif=kit.exif_orientation(orientation))

    def check(prepared, kit):
        assert prepared.size == (120, 80)
        assert prepared.orientation_applied == (orientation != 1)
        with Image.open(io.BytesIO(prepared.data)) as im:
            red, rest = im.getpixel((4, 4)), im.getpixel((110, 70))
        assert red[0] > 200 and red[1] < 60, red
        assert rest[2] > 120 and rest[0] < 80, rest

    return Case(build, check=check)


def _pixel(expected, tolerance=2):
    def check(prepared, kit):
        with Image.open(io.BytesIO(prepared.data)) as im:
            got = im.convert("RGB").getpixel((im.width // 2, im.height // 2))
        assert all(abs(g - e) <= tolerance for g, e in zip(got, expected, strict=True)), got

    return check


def _p3(kit):
    return kit.encode(
        Image.new("RGB", (96, 96), (200, 100, 50)), "PNG", icc_profile=kit.display_p3_icc()
    )


def _p3_check(prepared, kit):
    assert prepared.profile == "Display P3 (test)"
    _pixel([round(v) for v in kit.p3_to_srgb((200, 100, 50))], tolerance=1)(prepared, kit)


def _srgb_tagged(kit):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return kit.encode(Image.new("RGB", (80, 80), (200, 100, 50)), "PNG", icc_profile=icc)


def _plain(size, fmt="PNG", mode="RGB", colour=(40, 90, 160), **params):
    return lambda kit: kit.encode(Image.new(mode, size, colour), fmt, **params)


def _transparent(mode):
    def build(kit):
        im = Image.new("RGBA", (80, 80), (255, 0, 0, 255))
        ImageDraw.Draw(im).rectangle((0, 0, 39, 79), fill=(0, 0, 0, 0))
        return kit.encode(im.convert(mode) if mode != "RGBA" else im, "PNG")

    def check(prepared, kit):
        assert prepared.alpha_kept
        with Image.open(io.BytesIO(prepared.data)) as im:
            assert im.mode == "RGB"
            left = im.getpixel((10, 40))
        assert min(left) >= 250, left  # flattened onto the white background

    return Case(build, check=check)


def _gray16(kit):
    return kit.encode(Image.new("I;16", (80, 80), 40000), "PNG")


def _float_tiff(kit):
    return kit.encode(Image.new("F", (80, 80), 0.5), "TIFF")


def _animated(fmt):
    def build(kit):
        frames = [Image.new("RGB", (80, 80), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
        return kit.encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)

    return build


def _palette_transparent_gif(kit):
    im = Image.new("P", (80, 80), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    ImageDraw.Draw(im).rectangle((40, 0, 79, 79), fill=1)
    return kit.encode(im, "GIF", transparency=0)


def _truncated(fmt):
    def build(kit):
        data = kit.encode(kit.photo((200, 200)), fmt)
        return data[: len(data) // 2]

    return build


def _mpo(kit):
    frames = [Image.new("RGB", (90, 90), (10, 200, 10)), Image.new("RGB", (90, 90), (0, 0, 0))]
    return kit.encode(frames[0], "MPO", save_all=True, append_images=frames[1:])


def _multipage_tiff(kit):
    pages = [Image.new("RGB", (80, 80), (i * 60, 0, 0)) for i in range(3)]
    return kit.encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def _trns_rgb(kit):
    im = Image.new("RGB", (80, 80), (0, 0, 255))
    ImageDraw.Draw(im).rectangle((0, 0, 39, 79), fill=(1, 2, 3))
    return kit.encode(im, "PNG", transparency=(1, 2, 3))


def _png_exif(kit):
    stored = kit.marked((120, 80)).transpose(Image.Transpose.ROTATE_90)
    return kit.encode(stored, "PNG", exif=kit.exif_orientation(6))


def _size_is(size):
    def check(prepared, kit):
        assert prepared.size == size

    return check


CASES: dict[str, Case] = {
    **{f"exif-orientation-{o}": _oriented(o) for o in range(1, 9)},
    "png-exif-orientation-6": Case(_png_exif, check=_size_is((120, 80))),
    "display-p3-icc": Case(_p3, check=_p3_check),
    "srgb-icc-kept": Case(_srgb_tagged, check=_pixel((200, 100, 50), tolerance=0)),
    "gray-icc-L": Case(
        lambda kit: kit.encode(Image.new("L", (80, 80), 100), "PNG", icc_profile=kit.gray_icc())
    ),
    "cmyk-jpeg": Case(
        _plain((80, 80), "JPEG", "CMYK", (0, 255, 255, 0)), check=_pixel((255, 0, 0), 8)
    ),
    "palette-png": Case(_plain((80, 80), "PNG", "P", 3)),
    "palette-gif-transparency": Case(_palette_transparent_gif, check=lambda p, k: p.alpha_kept),
    "rgba-png": _transparent("RGBA"),
    "la-png": _transparent("LA"),
    "rgba-opaque": Case(
        _plain((80, 80), "PNG", "RGBA", (1, 2, 3, 255)), check=lambda p, k: not p.alpha_kept
    ),
    "rgb-trns-colour-key": Case(_trns_rgb, check=lambda p, k: p.alpha_kept),
    "gray-16bit-png": Case(_gray16, check=_pixel((156, 156, 156), 1)),
    "float-tiff": Case(_float_tiff, check=_pixel((128, 128, 128), 1)),
    "bilevel-png": Case(_plain((80, 80), "PNG", "1", 1), check=_pixel((255, 255, 255), 0)),
    "bmp": Case(_plain((80, 80), "BMP")),
    "webp": Case(_plain((80, 80), "WEBP")),
    "mpo-phone-photo": Case(_mpo, check=_pixel((10, 200, 10), 6)),
    "animated-gif-refused": Case(_animated("GIF"), error=UnsupportedImageError),
    "animated-gif-first-frame": Case(
        _animated("GIF"), options={"animation": "first"}, check=_pixel((255, 0, 0), 6)
    ),
    "animated-webp-refused": Case(_animated("WEBP"), error=UnsupportedImageError),
    "multipage-tiff-refused": Case(_multipage_tiff, error=UnsupportedImageError),
    "zero-bytes": Case(lambda kit: b"", error=UnreadableImageError),
    "truncated-jpeg": Case(_truncated("JPEG"), error=UnreadableImageError, pillow_cause=True),
    "truncated-png": Case(_truncated("PNG"), error=UnreadableImageError, pillow_cause=True),
    "truncated-webp": Case(_truncated("WEBP"), error=UnreadableImageError, pillow_cause=True),
    "not-an-image": Case(
        lambda kit: b"%PDF-1.7\nhello", error=UnreadableImageError, pillow_cause=True
    ),
    "tga-not-accepted": Case(_plain((80, 80), "TGA"), error=UnsupportedImageError),
    "decompression-bomb": Case(
        lambda kit: kit.png_with_header_size(20000, 20000),
        error=DecompressionBombError,
        pillow_cause=True,
    ),
    "63px-too-small": Case(_plain((63, 200)), error=ImageTooSmallError),
    "64px-volcengine-ok": Case(_plain((64, 64)), check=_size_is((64, 64))),
    "64px-ailabtools-too-small": Case(
        _plain((64, 300)), "ailabtools-remove-objects", ImageTooSmallError
    ),
    "65px-ailabtools-ok": Case(_plain((65, 65)), "ailabtools-remove-objects"),
    "150px-try-on-too-small": Case(_plain((150, 400)), "ailabtools-try-on", ImageTooSmallError),
    "151px-try-on-ok": Case(_plain((151, 400)), "ailabtools-try-on"),
    "4096px-volcengine-ok": Case(_plain((4096, 4096)), check=_size_is((4096, 4096))),
    "4096px-ailabtools-fail": Case(
        _plain((4096, 300)), "ailabtools-remove-objects", ImageTooLargeError
    ),
    "4096px-ailabtools-downscale": Case(
        _plain((4096, 300)),
        "ailabtools-remove-objects",
        options={"policy": "downscale"},
        check=_size_is((4095, 300)),
    ),
    "4999px-tencent-ok": Case(_plain((4999, 120)), "tencent", check=_size_is((4999, 120))),
    "5000px-tencent-fail": Case(_plain((120, 5000)), "tencent", ImageTooLargeError),
    "5000px-tencent-downscale": Case(
        _plain((5000, 400)),
        "tencent",
        options={"policy": "downscale"},
        check=_size_is((4999, 400)),
    ),
    "9000px-over-largest-limit": Case(_plain((9000, 100)), "local", ImageTooLargeError),
    "thin-panorama-no-size-fits": Case(
        _plain((9000, 70)), "volcengine", ImageTooLargeError, options={"policy": "downscale"}
    ),
}


def _assert_sendable(prepared: PreparedImage) -> None:
    limits = LIMITS[prepared.target]
    assert not limits.check(prepared.size, len(prepared.data), prepared.format)
    with Image.open(io.BytesIO(prepared.data)) as im:
        assert im.format == prepared.format
        assert im.size == prepared.size
        assert im.mode == "RGB"
        assert "icc_profile" not in im.info
        assert not im.getexif()


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case(name, kit, tmp_path):
    case = CASES[name]
    data = case.build(kit)
    if case.error is not None:
        path = tmp_path / f"{name}.img"
        path.write_bytes(data)
        with pytest.raises(case.error) as caught:
            prepare_image(path, target=case.target, **case.options)
        error = caught.value
        assert isinstance(error, InputError) and isinstance(error, ValueError)
        assert error.source == str(path) and error.reason
        assert str(error) == f"{path}: {error.reason}"
        if case.pillow_cause:
            # Pillow's exception is not chained: no traceback from inside Pillow reaches
            # the user (its message is in the reason instead).
            assert error.__cause__ is None and error.__suppress_context__
        return
    prepared = prepare_image(data, target=case.target, **case.options)
    _assert_sendable(prepared)
    if case.check is not None:
        assert case.check(prepared, kit) is not False


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
