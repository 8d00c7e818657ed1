"""One way to write a file so readers see the old content or the new, never half of it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


def atomic_write(
    path: str | os.PathLike[str], data: bytes | BinaryIO, *, durable: bool = False
) -> Path:
    """Write ``data`` (bytes, or a binary file object streamed in 1 MiB pieces) to ``path``.

    The bytes go to a temporary file in the same folder, which then replaces ``path`` in one
    rename: a crash leaves either the previous file or the new one, and a stray ``.partial-``
    file at worst. ``durable`` also fsyncs before the rename (records that must survive a
    power cut, such as the ledger); caches and staged copies skip it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, (bytes, bytearray, memoryview)):
                out.write(data)
            else:
                shutil.copyfileobj(data, out, length=1 << 20)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
