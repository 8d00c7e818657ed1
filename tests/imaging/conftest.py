"""Builders for the awkward inputs the imaging tests feed in; nothing binary is committed.

Helpers hang off the ``kit`` fixture (pytest's importlib mode lets test modules import no
sibling module). ICC profiles are built here byte by byte from the ICC specification, so
the tests need no downloaded profile: Display P3 uses Apple's published D50-adapted
colorants and the sRGB transfer curve.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw, ImageFilter

# Display P3 colorants, D50-adapted (as in Apple's "Display P3" profile).
P3_COLORANTS = (
    (0.51512146, 0.24119568, -0.00105286),
    (0.29197693, 0.69224548, 0.04188538),
    (0.15710449, 0.06657410, 0.78407288),
)
# The sRGB colorants LittleCMS's built-in sRGB profile uses (D50-adapted).
SRGB_COLORANTS = (
    (0.43607, 0.22249, 0.01392),
    (0.38515, 0.71687, 0.09708),
    (0.14307, 0.06061, 0.71410),
)
D50 = (0.9642, 1.0, 0.8249)
_SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _para(params: tuple[float, ...]) -> bytes:
    kind = {1: 0, 5: 3}[len(params)]
    return b"para\0\0\0\0" + struct.pack(">HH", kind, 0) + b"".join(_s15(p) for p in params)


def _mluc(text: str) -> bytes:
    body = text.encode("utf-16-be")
    return b"mluc\0\0\0\0" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(body), 28) + body


def build_icc(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v4 display profile with ``tags`` (signature, data), PCS XYZ."""
    table_size = 4 + 12 * len(tags)
    offset, entries, blobs = 128 + table_size, [], []
    for signature, data in tags:
        padded = data + b"\0" * (-len(data) % 4)
        entries.append(struct.pack(">4sII", signature, offset, len(data)))
        blobs.append(padded)
        offset += len(padded)
    header = bytearray(128)
    struct.pack_into(">I", header, 0, offset)
    header[8:12] = bytes([4, 0x30, 0, 0])
    header[12:24] = b"mntr" + space + b"XYZ "
    struct.pack_into(">6H", header, 24, 2026, 1, 1, 0, 0, 0)
    header[36:40] = b"acsp"
    header[68:80] = _s15(D50[0]) + _s15(D50[1]) + _s15(D50[2])
    table = struct.pack(">I", len(tags)) + b"".join(entries)
    return bytes(header) + table + b"".join(blobs)


def display_p3_icc() -> bytes:
    """A Display P3 matrix/TRC profile (ICC v4), built from its published numbers."""
    curve = _para(_SRGB_CURVE)
    red, green, blue = P3_COLORANTS
    return build_icc(
        b"RGB ",
        [
            (b"desc", _mluc("Display P3 (test)")),
            (b"cprt", _mluc("No copyright, test data")),
            (b"wtpt", _xyz(*D50)),
            (b"rXYZ", _xyz(*red)),
            (b"gXYZ", _xyz(*green)),
            (b"bXYZ", _xyz(*blue)),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ],
    )


def gray_icc(gamma: float = 2.2) -> bytes:
    """A grey display profile with a pure power curve."""
    return build_icc(
        b"GRAY",
        [
            (b"desc", _mluc(f"Gray gamma {gamma} (test)")),
            (b"wtpt", _xyz(*D50)),
            (b"kTRC", _para((gamma,))),
        ],
    )


def _decode_srgb(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _encode_srgb(v: float) -> float:
    v = min(1.0, max(0.0, v))
    return v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055


def _solve3(columns: tuple, target: tuple) -> tuple[float, float, float]:
    # Cramer's rule for M @ x = target, where M's columns are the colorants.
    (a, d, g), (b, e, h), (c, f, i) = columns

    def det(m):
        return (
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        )

    m = [[a, b, c], [d, e, f], [g, h, i]]
    whole = det(m)
    out = []
    for k in range(3):
        mk = [row[:] for row in m]
        for r in range(3):
            mk[r][k] = target[r]
        out.append(det(mk) / whole)
    return out[0], out[1], out[2]


def p3_to_srgb(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """The reference conversion: P3 values -> XYZ (D50) -> sRGB values, 0..255, clipped."""
    linear = [_decode_srgb(c / 255) for c in rgb]
    xyz = [sum(P3_COLORANTS[k][axis] * linear[k] for k in range(3)) for axis in range(3)]
    srgb_linear = _solve3(SRGB_COLORANTS, tuple(xyz))
    return tuple(255 * _encode_srgb(v) for v in srgb_linear)


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    if fmt == "PNG":
        params.setdefault("compress_level", 1)  # fast; the tests time nothing
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def exif_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def marked(size: tuple[int, int], colour=(40, 90, 160)) -> Image.Image:
    """A plain image with a red 10x10 px square at the top-left corner, to see orientation."""
    im = Image.new("RGB", size, colour)
    ImageDraw.Draw(im).rectangle((0, 0, 9, 9), fill=(255, 0, 0))
    return im


def photo(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A photo-like RGB image: gradients, shapes, blur and grain."""
    w, h = size
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    draw = ImageDraw.Draw(base)
    for k in range(12):
        x, y = (seed * 97 + k * 131) % w, (seed * 57 + k * 71) % h
        r = max(4, min(w, h) // (4 + k % 5))
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=((k * 53) % 256, (k * 97) % 256, (k * 31) % 256)
        )
    base = base.filter(ImageFilter.GaussianBlur(max(1, min(w, h) // 200)))
    grain = Image.effect_noise(size, 24).convert("RGB")
    return Image.blend(base, grain, 0.12)


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` px (a decompression bomb header)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = 8 + 8  # signature, then length and type of the IHDR chunk
    struct.pack_into(">II", data, ihdr, width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    struct.pack_into(">I", data, 29, crc)
    return bytes(data)


class Kit:
    """The builders above, for tests (pytest's importlib mode has no sibling imports)."""

    display_p3_icc = staticmethod(display_p3_icc)
    gray_icc = staticmethod(gray_icc)
    p3_to_srgb = staticmethod(p3_to_srgb)
    encode = staticmethod(encode)
    exif_orientation = staticmethod(exif_orientation)
    marked = staticmethod(marked)
    photo = staticmethod(photo)
    png_with_header_size = staticmethod(png_with_header_size)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
