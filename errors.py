"""The root of every error prefect-image-edit raises on purpose.

Exception tree (each layer adds its own branches under these roots)::

    ImageEditError
    ├── InputError (also a ValueError)     bad input, caught before any paid call
    │   └── imaging.errors.*               unreadable files, vendor limits, bad masks
    ├── vendors.errors.VendorError          a vendor call failed (carries a retry verdict)
    │   ├── VendorRequestError              no usable response (connect, timeout, reset)
    │   └── VendorAPIError                  the vendor answered with an error envelope
    └── ResultExpired                       a result URL expired and the vendor no longer has it

Messages name the file or field and the reason. They never carry secrets or image data,
because they end up in Prefect logs, task states and artifacts.
"""

from __future__ import annotations

import os

__all__ = ["ImageEditError", "InputError", "ResultExpired", "describe_source"]


class ImageEditError(Exception):
    """Base class of all errors raised on purpose by prefect-image-edit.

    ``transient`` is the one retry decision: whether trying the same step again may succeed.
    False by default (bad input, expired results, refusals); network and storage failures and
    vendors' transient verdicts say True. Tasks retry on it and nothing else.
    """

    transient: bool = False

    def __reduce__(self):
        # Prefect pickles exceptions into task states; subclasses take keyword-only
        # arguments, so rebuild from the instance state instead of calling __init__.
        return (_rebuild_error, (type(self), self.args, self.__dict__.copy()))


def _rebuild_error(cls: type[ImageEditError], args: tuple, state: dict) -> ImageEditError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InputError(ImageEditError, ValueError):
    """Input that cannot be sent to any vendor; raised before a request leaves the machine.

    Args:
        reason: What is wrong, in one sentence that says how to fix it when it can.
        source: The file path or field name the input came from, if known.
    """

    def __init__(self, reason: str, *, source: str | None = None) -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)


class ResultExpired(ImageEditError):
    """A result URL is past its expiry and the vendor no longer holds the task."""


def describe_source(obj: object, default: str = "<bytes>") -> str:
    """Name an input for error messages: a path as given, a file object's name, or ``default``."""
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) else default
