"""Defaults shared by the vendor clients, as constants that tests and users can read."""

from __future__ import annotations

import httpx

from prefect_image_edit import __version__

USER_AGENT = f"prefect-image-edit/{__version__}"

# Image edits take seconds to tens of seconds; the connect phase should fail fast so that a
# refused connection (nothing sent, nothing billed) is retried quickly.
DEFAULT_TIMEOUT = httpx.Timeout(timeout=120.0, connect=10.0)
# Idle pooled connections are dropped after 4 s, before servers with short keep-alive windows
# (uvicorn's default is 5 s) close them: reusing a connection the server is closing fails a
# POST ambiguously, which for a paid call means a possible double charge.
DEFAULT_LIMITS = httpx.Limits(
    max_connections=20, max_keepalive_connections=10, keepalive_expiry=4.0
)

AILABTOOLS = "ailabtools"
TENCENT = "tencent"
VOLCENGINE = "volcengine"
VENDORS = (AILABTOOLS, TENCENT, VOLCENGINE)

# Keep-alive pool and redirects: vendor APIs never redirect a POST; following one could resend
# a paid call to a host nobody chose.
FOLLOW_REDIRECTS = False

# Byte caps of the input images, as the vendors document them
# (docs/vendors/tencent-aiart.md#limits, docs/vendors/volcengine-visual.md#limits,
# docs/vendors/ailabtools.md#limits).
# "MB" is read as 10^6 bytes, the stricter reading, the same one imaging/limits.py takes, so a
# prepared image never passes one layer and fails the other.
MB = 1_000_000

# --- AILabTools (docs/vendors/ailabtools.md) ---------------------------------------------------
AILABTOOLS_BASE_URL = "https://www.ailabapi.com"
AILABTOOLS_API_KEY_HEADER = "ailabapi-api-key"
AILABTOOLS_REMOVE_OBJECTS_PATH = "/api/image/editing/remove-objects-advanced"
AILABTOOLS_TRY_ON_PRO_PATH = "/api/portrait/editing/try-on-clothes-pro"
AILABTOOLS_TRY_ON_REFINER_PATH = "/api/portrait/enhance/try-on-clothes-refiner"
AILABTOOLS_QUERY_TASK_PATH = "/api/common/query-async-task-result"
AILABTOOLS_REMOVE_OBJECTS_ACTION = "remove-objects-advanced"
AILABTOOLS_TRY_ON_PRO_ACTION = "try-on-clothes-pro"
AILABTOOLS_TRY_ON_REFINER_ACTION = "try-on-clothes-refiner"
AILABTOOLS_QUERY_TASK_ACTION = "query-async-task-result"
AILABTOOLS_MAX_IMAGE_BYTES = 5 * MB
# Recommended poll interval for async tasks, seconds (the docs say "every 5 seconds").
AILABTOOLS_POLL_INTERVAL_SECONDS = 5.0

# --- Tencent aiart (docs/vendors/tencent-aiart.md) ---------------------------------------------
TENCENT_ENDPOINT = "https://aiart.tencentcloudapi.com"
TENCENT_SERVICE = "aiart"
TENCENT_REGION = "ap-guangzhou"
TENCENT_VERSION = "2022-12-29"
TENCENT_INPAINTING_ACTION = "ImageInpaintingRemoval"
# Exactly this, no charset: the signature covers it and the SDK sends it bare.
TENCENT_CONTENT_TYPE = "application/json"
# "转成 Base64 字符串后小于 6MB": the Base64 text, not the raw bytes, must stay under 6 MB.
TENCENT_MAX_BASE64_CHARS = 6 * MB
# TC3-signed POST requests are capped at 10 MB as a whole (signature v3 documentation), so an
# image and a mask each under 6 MB of Base64 can still make a body Tencent refuses.
TENCENT_MAX_BODY_BYTES = 10 * MB
# The vendor adds a visible "AI generated" mark unless LogoAdd is 0; the pack opts out by default.
TENCENT_DEFAULT_LOGO_ADD = 0

# --- Volcengine visual (docs/vendors/volcengine-visual.md) -------------------------------------
VOLCENGINE_ENDPOINT = "https://visual.volcengineapi.com"
VOLCENGINE_SERVICE = "cv"
VOLCENGINE_REGION = "cn-north-1"
VOLCENGINE_VERSION = "2022-08-31"
VOLCENGINE_DEFAULT_ACTION = "CVProcess"
VOLCENGINE_INPAINTING_REQ_KEY = "i2i_inpainting"
VOLCENGINE_CONTENT_TYPE = "application/json"
VOLCENGINE_SUCCESS_CODE = 10000
VOLCENGINE_MAX_IMAGE_BYTES = 5 * MB
