"""Read image sources and open them with Pillow, turning every failure into a typed error.

A source is ``bytes`` (or ``bytearray``/``memoryview``), a path (``str`` or ``os.PathLike``)
or a binary file object (read from its current position, which is restored afterwards when
the object can seek). This module is the only place that calls ``Image.open`` and
``Image.load`` on user data, so it is the only place that must know how Pillow fails: each
failure becomes an :mod:`~prefect_image_edit.imaging.errors` error raised ``from`` Pillow's.

Only still-image formats are decoded (:data:`INPUT_FORMATS`); formats whose loaders call out
to other programs (EPS, PDF) are refused before any pixel is decoded. Pillow's
decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``) stays on.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Literal, TypeAlias

from PIL import (  # noqa: F401  importing a plugin registers its format; no others load
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from prefect_image_edit.errors import InputError, describe_source
from prefect_image_edit.imaging.errors import (
    DecompressionBombError,
    UnreadableImageError,
    UnsupportedImageError,
)
from prefect_image_edit.imaging.geometry import Frame, Size

__all__ = [
    "INPUT_FORMATS",
    "Animation",
    "ImageInfo",
    "Source",
    "decode",
    "open_image",
    "pillow_errors",
    "probe_image",
    "read_source",
]

Source: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO
Animation: TypeAlias = Literal["refuse", "first"]

#: Pillow format names decoded as input. The JPEG opener also yields MPO, Pillow's name for
#: phone JPEGs carrying a second picture (depth or gain map); frame 0 is the photo itself.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# A str longer than this is no path: most likely Base64 or a URL passed by mistake, and it
# must not be echoed into an error message.
_MAX_PATH_CHARS = 1024
_ORIENTATION_TAG = 0x0112


def _name(obj: object, default: str) -> str:
    text = describe_source(obj, default)
    if len(text) > _MAX_PATH_CHARS or "\n" in text:
        return f"<str of {len(text)} characters>"
    return text


def read_source(obj: Source, *, default_name: str = "<bytes>") -> tuple[bytes, str]:
    """Read a source into bytes, without judging the content.

    Args:
        obj: Bytes, a path, or a binary file object (its position is restored if seekable).
        default_name: The name used in errors when ``obj`` carries none (raw bytes).

    Returns:
        The bytes and the name errors should use for them.

    Raises:
        UnreadableImageError: missing or unreadable path, text-mode file, or no source at all.
    """
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj), default_name
    if isinstance(obj, str | os.PathLike):
        name = _name(obj, default_name)
        text = os.fspath(obj)
        if isinstance(text, str) and (len(text) > _MAX_PATH_CHARS or "\n" in text):
            raise UnreadableImageError(
                "a str must be a file path; pass image data as bytes", source=name
            )
        try:
            with open(text, "rb") as handle:
                return handle.read(), name
        except FileNotFoundError as exc:
            raise UnreadableImageError("the file does not exist", source=name) from exc
        except IsADirectoryError as exc:
            raise UnreadableImageError("is a directory, not an image file", source=name) from exc
        except OSError as exc:
            reason = f"the file cannot be read ({exc.strerror or type(exc).__name__})"
            raise UnreadableImageError(reason, source=name) from exc
    read = getattr(obj, "read", None)
    if not callable(read):
        raise UnreadableImageError(
            f"expected bytes, a path or a binary file object, got {type(obj).__name__}",
            source=default_name,
        )
    name = _name(obj, default_name)
    try:
        start = obj.tell() if obj.seekable() else None
        data = read()
        if start is not None:
            obj.seek(start)
    except (OSError, ValueError) as exc:
        raise UnreadableImageError("the file object cannot be read", source=name) from exc
    if isinstance(data, str):
        raise UnreadableImageError("the file is open in text mode; open it with 'rb'", source=name)
    return bytes(data), name


def _bomb(exc: Exception, source: str) -> DecompressionBombError:
    reason = (
        f"Pillow's decompression-bomb guard refused it ({str(exc).rstrip('.')}). The guard "
        "stays on; raise PIL.Image.MAX_IMAGE_PIXELS in your own code only for files you trust"
    )
    return DecompressionBombError(reason, source=source)


def open_image(data: bytes, source: str) -> Image.Image:
    """Open ``data`` lazily (header only) as one of :data:`INPUT_FORMATS`.

    Raises:
        UnreadableImageError: empty, or not an image at all.
        UnsupportedImageError: an image in a format outside :data:`INPUT_FORMATS`.
        DecompressionBombError: the header declares too many pixels.
    """
    if not data:
        raise UnreadableImageError("the file is empty (0 bytes)", source=source)
    with pillow_errors(source):
        try:
            return Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
        except UnidentifiedImageError:
            other = _identify_any(data)
            accepted = ", ".join(INPUT_FORMATS)
            if other:
                reason = f"{other} images are not accepted; accepted formats: {accepted}"
                raise UnsupportedImageError(reason, source=source) from None
            reason = f"not an image, or too damaged to identify; accepted formats: {accepted}"
            raise UnreadableImageError(reason, source=source) from None


def _identify_any(data: bytes) -> str | None:
    # Header-only open with every plugin, just to name the format in the error; nothing is
    # decoded, so loaders that shell out (EPS) never run.
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format
    except Exception:
        return None


def decode(im: Image.Image, source: str, *, animation: Animation = "refuse") -> list[str]:
    """Decode the pixels of an opened image (frame 0), in place; return notes on what it chose.

    Args:
        im: An image from :func:`open_image`.
        source: The input's name for errors.
        animation: ``"refuse"`` raises for animations and multi-page files; ``"first"``
            decodes frame 0 and says so in the returned notes. MPO files (phone photos with a
            depth or gain map) always use their first frame, the photo itself.

    Raises:
        UnreadableImageError: truncated or corrupt pixel data.
        UnsupportedImageError: animated and ``animation="refuse"``.
        DecompressionBombError: too many pixels (some formats only know while decoding).
    """
    notes: list[str] = []
    with pillow_errors(source):
        frames = getattr(im, "n_frames", 1)  # GIF and WebP walk their frames to count them
    if frames > 1:
        if im.format == "MPO":
            notes.append(f"MPO with {frames} pictures: used the first (the photo)")
        elif animation == "first":
            notes.append(f"{im.format} has {frames} frames: used frame 0 (the first)")
        else:
            reason = (
                f"{im.format} has {frames} frames; pass animation='first' to use frame 0, "
                "or send a still image"
            )
            raise UnsupportedImageError(reason, source=source)
    with pillow_errors(source):
        im.seek(0)
        im.load()
    return notes


@contextmanager
def pillow_errors(source: str, error: type[InputError] = UnreadableImageError) -> Iterator[None]:
    """Re-raise whatever Pillow raises inside the block as a typed error naming ``source``.

    Decompression bombs become :class:`DecompressionBombError`; anything else (``OSError``
    "image file is truncated", ``SyntaxError``, ``ValueError``, ``struct.error``, ... as
    Pillow's plugins see fit) becomes ``error``. Our own errors pass through.

    The reason carries Pillow's message, and the Pillow exception is not chained (``from
    None``): bad input shows the user one typed error, never a traceback from inside Pillow.
    """
    try:
        yield
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise _bomb(exc, source) from None
    except Exception as exc:
        text = str(exc)
        kind = "truncated" if "truncat" in text.lower() else "damaged"
        if error is UnreadableImageError:
            reason = f"the image data is {kind} ({type(exc).__name__}: {text})"
        else:
            reason = f"Pillow cannot convert it ({type(exc).__name__}: {text})"
        raise error(reason, source=source) from None


def read_orientation(im: Image.Image) -> int:
    """The EXIF (or XMP) orientation, 1..8; 1 when absent, unreadable or out of range."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # damaged EXIF must not make a good image unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What an image file is, read from its header without decoding the pixels.

    Attributes:
        source: The input's name for messages.
        format: Pillow's format name (``JPEG``, ``PNG``, ...).
        mode: Pillow's mode as stored (``RGB``, ``CMYK``, ``I;16``, ``P``, ...).
        frame: Stored size, EXIF orientation and upright size (px); an identity crop.
        nbytes: The file's size in bytes.
        frames: Number of frames or pages (1 for a still image).
        has_icc: Whether the file embeds an ICC colour profile.
        sha256: Hex digest of the file's bytes.
    """

    source: str
    format: str
    mode: str
    frame: Frame
    nbytes: int
    frames: int
    has_icc: bool
    sha256: str

    @property
    def size(self) -> Size:
        """Upright size (EXIF orientation applied), in px."""
        return self.frame.original_size

    @property
    def orientation(self) -> int:
        return self.frame.orientation


def info_of(im: Image.Image, data: bytes, source: str) -> ImageInfo:
    """:class:`ImageInfo` for an image from :func:`open_image` and the bytes it came from."""
    orientation = read_orientation(im)
    return ImageInfo(
        source=source,
        format=im.format or "?",
        mode=im.mode,
        frame=Frame.identity(im.size, orientation),
        nbytes=len(data),
        frames=getattr(im, "n_frames", 1),
        has_icc=bool(im.info.get("icc_profile")),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def probe_image(source: Source) -> ImageInfo:
    """Read a source's header: format, mode, size and orientation, without decoding pixels.

    Cheap enough to call before deciding anything, e.g. to rasterise boxes in the upright
    frame with :func:`~prefect_image_edit.imaging.masks.prepare_mask`. One exception: a PNG
    may keep its EXIF after the pixel data, and Pillow decodes the pixels to find it; the
    orientation must agree with what ``load_image`` later applies.
    """
    data, name = read_source(source)
    with open_image(data, name) as im:
        return info_of(im, data, name)
