"""Loading and sniffing image arguments: every refusal names the argument and sends nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from prefect_image_edit.errors import InputError
from prefect_image_edit.vendors.errors import InvalidImageError
from prefect_image_edit.vendors.files import (
    ImageFormat,
    base64_length,
    load_image,
    read_input,
    sniff_format,
)

from .conftest import BMP, GIF, JPEG, PNG, TIFF, WEBP

ALL = frozenset(ImageFormat)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, ImageFormat.PNG),
        (JPEG, ImageFormat.JPEG),
        (BMP, ImageFormat.BMP),
        (WEBP, ImageFormat.WEBP),
        (TIFF, ImageFormat.TIFF),
        (GIF, ImageFormat.GIF),
        (b"MM\x00*" + b"\x00" * 8, ImageFormat.TIFF),
        (b"%PDF-1.7 not an image", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"BM", None),
        (b"", None),
    ],
)
def test_sniff_format_reads_magic_bytes(data, expected):
    assert sniff_format(data) == expected


@pytest.mark.parametrize(
    ("size", "chars"), [(0, 0), (1, 4), (3, 4), (4, 8), (4_499_997, 5_999_996)]
)
def test_base64_length(size, chars):
    assert base64_length(size) == chars


def test_loads_bytes_path_str_pathlike_and_file_object(tmp_path: Path):
    path = tmp_path / "photo.bin"  # the extension lies; the magic bytes decide
    path.write_bytes(JPEG)
    for source in (JPEG, bytearray(JPEG), memoryview(JPEG), str(path), path, io.BytesIO(JPEG)):
        image = load_image(source, field="image", formats=ALL)
        assert image.data == JPEG
        assert image.format is ImageFormat.JPEG
        assert image.media_type == "image/jpeg"
        assert image.filename == "image.jpg"
    with path.open("rb") as handle:
        assert load_image(handle, field="image", formats=ALL).source == str(path)


def test_loaded_image_repr_has_no_bytes():
    image = load_image(PNG, field="mask", formats=ALL)
    assert "PNG" not in repr(image).replace("ImageFormat.PNG", "")
    assert len(image.sha256) == 64


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing.png", "does not exist"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: b"", "is empty"),
        (lambda tmp: b"hello, this is text", "is not an image"),
        (lambda tmp: "", "empty path"),
        (lambda tmp: io.StringIO("text"), "text mode"),
        (lambda tmp: 42, "expected bytes, a path or a binary file object"),
    ],
    ids=["missing", "directory", "empty", "not-an-image", "empty-path", "text-mode", "wrong-type"],
)
def test_bad_inputs_raise_typed_errors_naming_the_field(tmp_path, make, reason):
    with pytest.raises(InvalidImageError) as caught:
        load_image(make(tmp_path), field="mask", formats=ALL)
    error = caught.value
    assert isinstance(error, InputError)
    assert isinstance(error, ValueError)
    assert error.field == "mask"
    assert str(error).startswith("mask")
    assert reason in str(error)


def test_empty_file_on_disk(tmp_path: Path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="is empty"):
        load_image(path, field="image", formats=ALL)


def test_format_not_accepted_lists_accepted_ones():
    with pytest.raises(InvalidImageError, match=r"is webp.*accepted formats: jpg, png"):
        load_image(WEBP, field="image", formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG}))


def test_byte_cap_is_checked_before_reading_a_path(tmp_path: Path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(PNG + b"\x00" * 100)

    def boom(self):  # pragma: no cover - must not be reached
        raise AssertionError("read a file that is over the cap")

    monkeypatch.setattr(Path, "read_bytes", boom)
    with pytest.raises(InvalidImageError, match="at most 50 bytes"):
        load_image(path, field="image", formats=ALL, max_bytes=50)


def test_byte_cap_on_bytes():
    with pytest.raises(InvalidImageError, match="at most 10 bytes"):
        load_image(PNG, field="image", formats=ALL, max_bytes=10)
    assert load_image(PNG, field="image", formats=ALL, max_bytes=len(PNG)).size == len(PNG)


def test_base64_cap_is_strictly_less_than():
    chars = base64_length(len(PNG))
    with pytest.raises(InvalidImageError, match="Base64"):
        load_image(PNG, field="image", formats=ALL, max_base64_chars=chars)
    load_image(PNG, field="image", formats=ALL, max_base64_chars=chars + 1)


def test_long_str_is_not_echoed_into_the_message():
    blob = "iVBORw0KGgo" * 500  # Base64 passed where a path belongs
    with pytest.raises(InvalidImageError) as caught:
        load_image(blob, field="image", formats=ALL)
    assert blob[:100] not in str(caught.value)
    assert "pass image data as bytes" in str(caught.value)


def test_read_input_keeps_bytes_verbatim():
    data, source = read_input(b"\x00\x01", field="image")
    assert (data, source) == (b"\x00\x01", "<bytes>")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path):
    path = tmp_path / "secret.png"
    path.write_bytes(PNG)
    path.chmod(0)
    with pytest.raises(InvalidImageError, match="cannot be read"):
        load_image(path, field="image", formats=ALL)
