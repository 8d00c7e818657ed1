"""Pure parts of the multipart uploader: part sizes and the part window (no store needed)."""

from __future__ import annotations

import io

import pytest

from prefect_image_edit.archive import multipart
from prefect_image_edit.archive.multipart import PartReader, part_size_for, reader_for

MIB = 1024 * 1024


def test_parts_are_equal_one_per_slot_and_within_bounds():
    assert part_size_for(50 * 10**6) == 12 * MIB  # 4 parts: all in flight at once
    assert part_size_for(17 * MIB) == multipart.MIN_PART_BYTES
    assert part_size_for(200 * MIB) == multipart.MAX_PART_BYTES
    assert part_size_for(10 * 1024 * MIB) == multipart.MAX_PART_BYTES
    huge = multipart.MAX_PARTS * multipart.MAX_PART_BYTES * 2
    assert -(-huge // part_size_for(huge)) <= multipart.MAX_PARTS


def test_part_reader_is_a_seekable_window_that_hands_out_large_blocks():
    data = bytes(range(256)) * 4096  # 1 MiB
    reader = PartReader(reader_for(io.BytesIO(data)), 1000, 300_000)
    assert len(reader) == 300_000
    first = reader.read(16384)  # what the HTTP layer asks for
    assert first == data[1000 : 1000 + len(first)]
    assert len(first) == min(multipart.BLOCK_BYTES, 300_000)
    reader.seek(0)
    assert len(reader.read(MIB)) == min(multipart.BLOCK_BYTES, 300_000)  # botocore's signing
    assert reader.seek(0, io.SEEK_END) == 300_000 and reader.read(10) == b""
    reader.seek(0)
    assert b"".join(iter(lambda: reader.read(7), b"")) == data[1000:301_000]
    reader.seek(-5, io.SEEK_END)
    buffer = bytearray(100)
    assert reader.readinto(buffer) == 5 and bytes(buffer[:5]) == data[300_995:301_000]
    reader.seek(0)
    assert reader.read() == data[1000:301_000]


def test_reader_for_a_file_reads_by_position_from_where_the_file_stood(tmp_path):
    path = tmp_path / "spool"
    path.write_bytes(b"0123456789")
    with path.open("rb") as handle:
        handle.seek(2)
        read_at = reader_for(handle)
        handle.seek(9)  # a shared position does not matter: reads are by offset
        assert read_at(0, 3) == b"234" and read_at(5, 100) == b"789"


def test_a_source_shorter_than_its_part_is_an_error_not_a_short_body():
    reader = PartReader(reader_for(io.BytesIO(b"0123456789")), 5, 20)
    assert reader.read(3) == b"56789"
    with pytest.raises(EOFError):
        reader.read(3)
