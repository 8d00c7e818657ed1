"""``prefect-image-edit bench``: the pack against a plain official-SDK script (issue 10).

Modules: ``command`` (the command line), ``figures`` (one function per figure), ``harness``
(servers and subprocesses), ``servers`` (``prefect server start``), ``proxy`` (counting reverse
proxy), ``runner`` (the pack's flows in a subprocess), ``baseline`` (the plain script),
``archive_side`` (one upload, time and memory), ``images`` (test photos), ``report`` (table, JSON).
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the bench; ``argv`` as after ``prefect-image-edit bench``. Returns the exit code."""
    from prefect_image_edit.bench.command import main as run

    return run(argv)
