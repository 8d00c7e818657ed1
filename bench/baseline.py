"""The plain script a data team already has: the official Tencent SDK in a thread pool, a
download of the result URL, a boto3 upload; on a re-run, a HEAD per object and a skip.

Run by ``prefect-image-edit bench`` as a script (no pack imports); prints one JSON line.
Reads TENCENTCLOUD_SECRET_ID/SECRET_KEY/REGION/AIART_ENDPOINT_URL, BENCH_S3_ENDPOINT and AWS_*.
"""

import argparse
import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError
from tencentcloud.aiart.v20221229 import aiart_client, models
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--images", "--masks", "--bucket", "--prefix"):
        parser.add_argument(name, required=True)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    env = os.environ
    endpoint = env["TENCENTCLOUD_AIART_ENDPOINT_URL"].split("://", 1)
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint[1], protocol=endpoint[0]))
    cred = credential.Credential(env["TENCENTCLOUD_SECRET_ID"], env["TENCENTCLOUD_SECRET_KEY"])
    aiart = aiart_client.AiartClient(cred, env["TENCENTCLOUD_REGION"], profile)
    s3 = boto3.client(
        "s3", endpoint_url=env["BENCH_S3_ENDPOINT"], region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=args.workers * 2,
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )  # fmt: skip

    def one(image: Path) -> str:
        key = f"{args.prefix}/{image.stem}.jpg"
        try:
            s3.head_object(Bucket=args.bucket, Key=key)
            return "skipped"
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise
        request = models.ImageInpaintingRemovalRequest()
        request.InputImage = base64.b64encode(image.read_bytes()).decode()
        mask = Path(args.masks) / f"{image.stem}.png"
        request.Mask = base64.b64encode(mask.read_bytes()).decode()
        request.RspImgType, request.LogoAdd = "url", 0
        url = aiart.ImageInpaintingRemoval(request).ResultImage
        data = httpx.get(url, timeout=60).raise_for_status().content
        s3.put_object(Bucket=args.bucket, Key=key, Body=data, ContentType="image/jpeg")
        return "done"

    images = sorted(Path(args.images).glob("*.jpg"))
    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        outcomes = list(pool.map(one, images))
    seconds = time.perf_counter() - started
    done, skipped = outcomes.count("done"), outcomes.count("skipped")
    print(json.dumps({"seconds": seconds, "items": len(images), "done": done, "skipped": skipped}))


if __name__ == "__main__":
    main()
