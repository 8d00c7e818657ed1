"""Compatibility re-export: the flock lock manager now lives in ``prefect_image_edit.state``."""

from prefect_image_edit.state.flock import FlockLockManager

__all__ = ["FlockLockManager"]
