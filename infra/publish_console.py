"""`python -m infra.publish_console <stage>`: publish the web console (app/) to a deployed stage.

After `sam deploy` of the stack sdp-<stage> (docs/deploy.md, docs/ci-cd.md):

1. reads the stack's outputs (ConsoleUrl, ConsoleBucketName, ConsoleDistributionId, Region,
   UserPoolId, UserPoolClientId);
2. uploads every file under app/ to the console bucket, each with the Content-Type a browser
   needs (module scripts are refused under any other than a JavaScript one) and a Cache-Control:
   pages `no-cache`, the rest a short max-age, since their names are not hashed;
3. writes `config.json`, the stage's settings the console reads at start, `no-cache`;
4. deletes what the bucket holds that app/ no longer does;
5. invalidates `/*` on the distribution, so that its edges fetch the new files.

Pages go up after everything they load, so that a page never names a file not yet there. The
credentials need cloudformation:DescribeStacks on the stack, s3:PutObject, s3:DeleteObject and
s3:ListBucket on the console bucket, and cloudfront:CreateInvalidation on the distribution:
nothing else (pipeline.yaml, DeployRole).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "stage", "prod")
CONFIG_KEY = "config.json"
NO_CACHE = "no-cache"
SHORT_CACHE = "public, max-age=300"
TEXT = "text/plain; charset=utf-8"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": TEXT,
    ".md": "text/markdown; charset=utf-8",
}
# Licence and notice files, whatever their suffix (LICENSE, LICENSE.md, COPYING, NOTICE.txt, …).
LICENSE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
OUTPUTS = ("ConsoleUrl", "ConsoleBucketName", "ConsoleDistributionId", "Region", "UserPoolId", "UserPoolClientId")


class PublishError(Exception):
    """The console cannot be published as asked (a missing output, a file of unknown type)."""


@dataclass(frozen=True)
class ConsoleFile:
    key: str
    path: Path
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class Published:
    bucket: str
    uploaded: list[str]
    deleted: list[str]
    invalidation_id: str
    url: str


def content_type(path: Path) -> str:
    """The Content-Type a browser must get for this file; PublishError for a type not listed."""
    if path.name.upper().startswith(LICENSE_NAMES):
        return TEXT
    try:
        return CONTENT_TYPES[path.suffix.lower()]
    except KeyError:
        raise PublishError(f"{path}: no Content-Type is known for {path.suffix or 'a file without a suffix'}") from None


def cache_control(key: str) -> str:
    """Pages and config.json are revalidated on every load; everything else may be kept briefly."""
    return NO_CACHE if key == CONFIG_KEY or key.endswith(".html") else SHORT_CACHE


def console_files(app_dir: Path) -> list[ConsoleFile]:
    """The files to upload, pages last. Hidden files and folders (.DS_Store, .eslintrc, …) are
    not the console's; an app/config.json is replaced by the stage's own."""
    if not app_dir.is_dir():
        raise PublishError(f"{app_dir} is not a folder of the console's files")
    files = []
    for path in sorted(app_dir.rglob("*")):
        key = path.relative_to(app_dir).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in key.split("/")) or key == CONFIG_KEY:
            continue
        files.append(ConsoleFile(key, path, content_type(path), cache_control(key)))
    if not any(file.key == "index.html" for file in files):
        raise PublishError(f"{app_dir} has no index.html")
    return sorted(files, key=lambda file: (file.key.endswith(".html"), file.key))


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The outputs the publisher needs, from the deployed stack."""
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    missing = [name for name in OUTPUTS if not outputs.get(name)]
    if missing:
        raise PublishError(f"{stack_name} has no output {', '.join(missing)}: deploy the stack first")
    return outputs


def console_config(stage: str, outputs: dict[str, str]) -> dict[str, object]:
    """config.json: what the console needs to know of its stage. The API is at the console's own
    origin (one distribution serves both)."""
    return {
        "stage": stage,
        "local": False,
        "api_url": outputs["ConsoleUrl"],
        "region": outputs["Region"],
        "user_pool_id": outputs["UserPoolId"],
        "user_pool_client_id": outputs["UserPoolClientId"],
    }


def _keys(s3: Any, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield item["Key"]


def publish(
    stage: str,
    app_dir: Path,
    *,
    cloudformation: Any,
    s3: Any,
    cloudfront: Any,
    stack_name: str | None = None,
) -> Published:
    """Publish app_dir to the stage's console bucket and invalidate its distribution; the
    clients are given (boto3's in AWS, moto's or fakes in tests)."""
    files = console_files(app_dir)  # refused before anything is asked or written
    outputs = stack_outputs(cloudformation, stack_name or f"sdp-{stage}")
    bucket = outputs["ConsoleBucketName"]
    config = json.dumps(console_config(stage, outputs), indent=2).encode() + b"\n"
    pages = [file for file in files if file.key.endswith(".html")]
    for file in files[: len(files) - len(pages)]:
        _put(s3, bucket, file.key, file.path.read_bytes(), file.content_type, file.cache_control)
    _put(s3, bucket, CONFIG_KEY, config, CONTENT_TYPES[".json"], NO_CACHE)
    for file in pages:
        _put(s3, bucket, file.key, file.path.read_bytes(), file.content_type, file.cache_control)
    kept = {file.key for file in files} | {CONFIG_KEY}
    stale = sorted(key for key in _keys(s3, bucket) if key not in kept)
    for start in range(0, len(stale), 1000):  # DeleteObjects takes 1,000 keys at a time
        batch = [{"Key": key} for key in stale[start : start + 1000]]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            raise PublishError(f"could not delete {answer['Errors']}")
    invalidation = cloudfront.create_invalidation(
        DistributionId=outputs["ConsoleDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"sdp-{stage}-console-{time.time_ns()}",
        },
    )["Invalidation"]
    return Published(
        bucket, [*(file.key for file in files), CONFIG_KEY], stale, invalidation["Id"], outputs["ConsoleUrl"]
    )


def _put(s3: Any, bucket: str, key: str, body: bytes, kind: str, cache: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, CacheControl=cache)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.publish_console", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--app-dir", type=Path, default=ROOT / "app", help="the console's files (default: app/)")
    parser.add_argument("--stack-name", help="default: sdp-<stage>")
    parser.add_argument("--region", help="default: AWS_REGION, AWS_DEFAULT_REGION or the profile's")
    options = parser.parse_args(argv)
    import boto3

    session = boto3.session.Session(region_name=options.region)
    try:
        published = publish(
            options.stage,
            options.app_dir,
            cloudformation=session.client("cloudformation"),
            s3=session.client("s3"),
            cloudfront=session.client("cloudfront"),
            stack_name=options.stack_name,
        )
    except PublishError as error:
        print(f"infra.publish_console: {error}", file=sys.stderr)
        return 1
    print(
        f"{len(published.uploaded)} files to s3://{published.bucket}/, {len(published.deleted)} deleted; "
        f"invalidation {published.invalidation_id} of /*; the console: {published.url}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
