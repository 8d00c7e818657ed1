"""Defaults shared by the vendor clients, as constants that tests and users can read."""

from __future__ import annotations

import httpx

from prefect_image_edit import __version__

USER_AGENT = f"prefect-image-edit/{__version__}"

# Image edits take seconds to tens of seconds; the connect phase should fail fast so that a
# refused connection (nothing sent, nothing billed) is retried quickly.
DEFAULT_TIMEOUT = httpx.Timeout(timeout=120.0, connect=10.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)

AILABTOOLS = "ailabtools"
TENCENT = "tencent"
VOLCENGINE = "volcengine"
VENDORS = (AILABTOOLS, TENCENT, VOLCENGINE)

# How long a result URL lives when the URL itself does not say (DESIGN.md, Expiry and archiving).
RESULT_URL_TTL_SECONDS: dict[str, int] = {
    TENCENT: 3600,
    VOLCENGINE: 86400,
    AILABTOOLS: 86400,
}

# How long the vendor keeps an async task queryable.
TASK_RETENTION_SECONDS: dict[str, int] = {AILABTOOLS: 86400}
