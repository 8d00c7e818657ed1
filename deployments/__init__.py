"""Deployments: ``prefect.yaml`` for a process work pool and ``serve`` for one process."""
