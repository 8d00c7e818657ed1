"""Load image arguments and refuse cheap-to-spot bad input before any paid call.

Every client method takes images as ``bytes``, a path (``str`` or ``os.PathLike``) or a binary
file object. This module turns any of them into bytes, sniffs the format from magic bytes (never
from the file name: a ``.png`` that holds a JPEG is a JPEG) and checks what the vendor documents
cheaply: the file exists, is not empty, is an image in an accepted format, and is under the byte
cap. Pixel limits and mask rules need decoding and belong to ``imaging/``.

Errors are :class:`~prefect_image_edit.vendors.errors.InvalidImageError` (an ``InputError``, so
a ``ValueError``) naming the argument and the reason. Messages never carry image data.

Files are read synchronously, even from the async clients: the vendors cap inputs at a few MB
(and a path over the cap is refused from its size, before reading), so a read is brief.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, TypeAlias

from prefect_image_edit.errors import describe_source
from prefect_image_edit.vendors.errors import InvalidImageError

__all__ = [
    "ImageFormat",
    "ImageInput",
    "LoadedImage",
    "base64_length",
    "load_image",
    "read_input",
    "require_modes",
    "sniff_format",
]

ImageInput: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO

# A str longer than this is no path; it is most likely Base64 or a URL passed by mistake, and
# must not be echoed into an error message.
_MAX_PATH_CHARS = 1024


class ImageFormat(StrEnum):
    """Image formats the vendors talk about, named by their usual extension."""

    JPEG = "jpg"
    PNG = "png"
    BMP = "bmp"
    TIFF = "tiff"
    WEBP = "webp"
    GIF = "gif"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def extension(self) -> str:
        return self.value


_MEDIA_TYPES: dict[ImageFormat, str] = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.BMP: "image/bmp",
    ImageFormat.TIFF: "image/tiff",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.GIF: "image/gif",
}


def sniff_format(data: bytes) -> ImageFormat | None:
    """The image format named by the first bytes of ``data``, or ``None`` for anything else."""
    head = bytes(data[:16])
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if head.startswith(b"BM") and len(head) >= 6:
        return ImageFormat.BMP
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return ImageFormat.TIFF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if head.startswith((b"GIF87a", b"GIF89a")):
        return ImageFormat.GIF
    return None


def base64_length(size: int) -> int:
    """Length in characters of the padded Base64 text of ``size`` bytes."""
    return 4 * ((size + 2) // 3)


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """An image argument read into memory and checked.

    Attributes:
        field: The argument name, also the multipart part name where one is needed.
        data: The exact bytes that will be sent.
        format: The sniffed format.
        source: Where the bytes came from, for messages (a path, a file name or ``<bytes>``).
    """

    field: str
    data: bytes = field(repr=False)
    format: ImageFormat
    source: str

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def media_type(self) -> str:
        return self.format.media_type

    @property
    def filename(self) -> str:
        """``<field>.<ext>``: vendors that route on the extension get a truthful one."""
        return f"{self.field}.{self.format.extension}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _describe(obj: object) -> str:
    text = describe_source(obj)
    if len(text) > _MAX_PATH_CHARS or "\n" in text:
        return f"<str of {len(text)} characters>"
    return text


def _read_path(path: Path, *, field: str, source: str, max_bytes: int | None) -> bytes:
    try:
        if path.is_dir():
            raise InvalidImageError("is a directory, not an image file", field=field, source=source)
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise InvalidImageError(
                f"is {size} bytes; the vendor accepts at most {max_bytes} bytes",
                field=field,
                source=source,
            )
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InvalidImageError("file does not exist", field=field, source=source) from exc
    except PermissionError as exc:
        reason = "file cannot be read (permission denied)"
        raise InvalidImageError(reason, field=field, source=source) from exc
    except OSError as exc:
        reason = f"file cannot be read ({exc.strerror or type(exc).__name__})"
        raise InvalidImageError(reason, field=field, source=source) from exc


def read_input(obj: ImageInput, *, field: str, max_bytes: int | None = None) -> tuple[bytes, str]:
    """Read an image argument into bytes, without judging the content.

    Args:
        obj: Bytes, a path, or a binary file object (read from its current position).
        field: The argument name, for error messages.
        max_bytes: Refuse a file larger than this many bytes before reading it.

    Returns:
        The bytes and a description of where they came from.

    Raises:
        InvalidImageError: the path does not exist or cannot be read, or ``obj`` is no image
            argument at all.
    """
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj), "<bytes>"
    if isinstance(obj, str | os.PathLike):
        source = _describe(obj)
        if isinstance(obj, str) and not obj:
            raise InvalidImageError("is an empty path", field=field)
        if isinstance(obj, str) and (len(obj) > _MAX_PATH_CHARS or "\n" in obj):
            raise InvalidImageError(
                "a str must be a file path; pass image data as bytes", field=field, source=source
            )
        return _read_path(Path(obj), field=field, source=source, max_bytes=max_bytes), source
    read = getattr(obj, "read", None)
    if callable(read):
        source = _describe(obj)
        try:
            data = read()
        except (OSError, ValueError) as exc:
            reason = "file object cannot be read"
            raise InvalidImageError(reason, field=field, source=source) from exc
        if isinstance(data, str):
            raise InvalidImageError(
                "file object is open in text mode; open it with 'rb'", field=field, source=source
            )
        return bytes(data), source
    raise InvalidImageError(
        f"expected bytes, a path or a binary file object, got {type(obj).__name__}", field=field
    )


def load_image(
    obj: ImageInput,
    *,
    field: str,
    formats: frozenset[ImageFormat],
    max_bytes: int | None = None,
    max_base64_chars: int | None = None,
) -> LoadedImage:
    """Read an image argument and check it against what the vendor action accepts.

    Args:
        obj: Bytes, a path, or a binary file object.
        field: The argument name, for error messages and multipart part names.
        formats: The formats the action accepts.
        max_bytes: The vendor's cap on the file size, in bytes.
        max_base64_chars: The vendor's cap on the Base64 text, in characters (Tencent).

    Raises:
        InvalidImageError: missing, unreadable, empty, not an image, refused format, too large.
    """
    data, source = read_input(obj, field=field, max_bytes=max_bytes)
    if not data:
        raise InvalidImageError("is empty (0 bytes)", field=field, source=source)
    fmt = sniff_format(data)
    accepted = ", ".join(sorted(f.value for f in formats))
    if fmt is None:
        raise InvalidImageError(
            f"is not an image (unknown magic bytes); accepted formats: {accepted}",
            field=field,
            source=source,
        )
    if fmt not in formats:
        raise InvalidImageError(
            f"is {fmt.value}, which this action does not accept; accepted formats: {accepted}",
            field=field,
            source=source,
        )
    if max_bytes is not None and len(data) > max_bytes:
        raise InvalidImageError(
            f"is {len(data)} bytes; the vendor accepts at most {max_bytes} bytes",
            field=field,
            source=source,
        )
    if max_base64_chars is not None and base64_length(len(data)) >= max_base64_chars:
        raise InvalidImageError(
            f"is {len(data)} bytes, {base64_length(len(data))} characters as Base64; the vendor "
            f"accepts less than {max_base64_chars} characters",
            field=field,
            source=source,
        )
    return LoadedImage(field=field, data=data, format=fmt, source=source)


def require_modes(image: LoadedImage, modes: frozenset[str], *, what: str) -> None:
    """Refuse an image whose pixel mode (read from the header, nothing decoded) is not allowed.

    Args:
        image: A loaded image.
        modes: Pillow modes accepted, e.g. ``{"RGB"}`` for a three-channel photo.
        what: How the vendor words the rule, for the message.

    Raises:
        InvalidImageError: another mode, or a header Pillow cannot read.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            mode = opened.mode
    except (OSError, SyntaxError, ValueError):
        raise InvalidImageError(
            "cannot be read as an image", field=image.field, source=image.source
        ) from None
    if mode not in modes:
        raise InvalidImageError(
            f"has pixel mode {mode}; the vendor accepts {what} ({', '.join(sorted(modes))})",
            field=image.field,
            source=image.source,
        )
