"""The console publisher (infra/publish_console.py) against moto's S3 and CloudFront, given a
stack's outputs by a CloudFormation stand-in: a small console of its own, never app/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import publish_console
from infra.publish_console import PublishError, console_files, publish

REGION = "eu-west-1"
BUCKET = "sdp-dev-console-123456789012-eu-west-1"
CONSOLE_URL = "https://d111111abcdef8.cloudfront.net"


class StackOutputs:
    """CloudFormation's describe_stacks, answering with the outputs it was given."""

    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.asked: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's argument name
        self.asked.append(StackName)
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]}]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3, session.client("cloudfront")


@pytest.fixture
def distribution_id(aws: tuple[Any, Any]) -> str:
    _, cloudfront = aws
    config = {
        "CallerReference": "test",
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "console", "DomainName": f"{BUCKET}.s3.amazonaws.com"}]},
        "DefaultCacheBehavior": {"TargetOriginId": "console", "ViewerProtocolPolicy": "redirect-to-https"},
    }
    return cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


@pytest.fixture
def stack(distribution_id: str) -> StackOutputs:
    return StackOutputs(
        {
            "ConsoleUrl": CONSOLE_URL,
            "ConsoleBucketName": BUCKET,
            "ConsoleDistributionId": distribution_id,
            "Region": REGION,
            "UserPoolId": f"{REGION}_AbCdEfGhI",
            "UserPoolClientId": "1example23456789",
            "EndpointURL": "https://abc.execute-api.eu-west-1.amazonaws.com/dev/",
        }
    )


def _console(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


CONSOLE = {
    "index.html": "<!doctype html><script type=module src=/js/main.js></script>",
    "js/main.js": "import {api} from './api.mjs';",
    "js/api.mjs": "export const api = 1;",
    "css/console.css": "body{}",
    "img/logo.svg": "<svg/>",
    "data/help.json": "{}",
    "robots.txt": "User-agent: *",
    "LICENSE": "MIT",
    "vendor/LICENSE.md": "MIT",
    ".DS_Store": "x",
    ".hidden/secret.js": "x",
}


def _head(s3: Any, key: str) -> dict[str, Any]:
    return s3.head_object(Bucket=BUCKET, Key=key)


def test_every_file_goes_up_with_the_type_and_caching_a_browser_needs(
    aws: tuple[Any, Any], stack: StackOutputs, tmp_path: Path
) -> None:
    s3, cloudfront = aws
    published = publish("dev", _console(tmp_path, CONSOLE), cloudformation=stack, s3=s3, cloudfront=cloudfront)
    assert stack.asked == ["sdp-dev"]
    expected = {
        "index.html": ("text/html; charset=utf-8", "no-cache"),
        "config.json": ("application/json", "no-cache"),
        "js/main.js": ("text/javascript; charset=utf-8", "public, max-age=300"),
        "js/api.mjs": ("text/javascript; charset=utf-8", "public, max-age=300"),
        "css/console.css": ("text/css; charset=utf-8", "public, max-age=300"),
        "img/logo.svg": ("image/svg+xml", "public, max-age=300"),
        "data/help.json": ("application/json", "public, max-age=300"),
        "robots.txt": ("text/plain; charset=utf-8", "public, max-age=300"),
        "LICENSE": ("text/plain; charset=utf-8", "public, max-age=300"),
        "vendor/LICENSE.md": ("text/plain; charset=utf-8", "public, max-age=300"),
    }
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == sorted(expected)  # hidden files stay behind
    for key, (kind, cache) in expected.items():
        head = _head(s3, key)
        assert (head["ContentType"], head["CacheControl"]) == (kind, cache), key
    assert s3.get_object(Bucket=BUCKET, Key="js/main.js")["Body"].read() == CONSOLE["js/main.js"].encode()
    assert sorted(published.uploaded) == sorted(expected)
    assert (published.bucket, published.deleted, published.url) == (BUCKET, [], CONSOLE_URL)


def test_config_json_names_the_stage_its_api_and_its_user_pool(
    aws: tuple[Any, Any], stack: StackOutputs, tmp_path: Path
) -> None:
    s3, cloudfront = aws
    # A config.json of the developer's own in app/ is not the stage's: the stage's replaces it.
    console = _console(tmp_path, {"index.html": "<p>", "config.json": '{"local": true}'})
    publish("dev", console, cloudformation=stack, s3=s3, cloudfront=cloudfront)
    config = json.loads(s3.get_object(Bucket=BUCKET, Key="config.json")["Body"].read())
    assert config == {
        "stage": "dev",
        "local": False,
        "api_url": CONSOLE_URL,
        "region": REGION,
        "user_pool_id": f"{REGION}_AbCdEfGhI",
        "user_pool_client_id": "1example23456789",
    }
    assert list(config) == ["stage", "local", "api_url", "region", "user_pool_id", "user_pool_client_id"]


def test_files_no_longer_in_the_console_are_deleted_and_the_distribution_invalidated(
    aws: tuple[Any, Any], stack: StackOutputs, distribution_id: str, tmp_path: Path
) -> None:
    s3, cloudfront = aws
    first = _console(tmp_path / "first", {"index.html": "1", "js/old.js": "old", "js/kept.js": "kept"})
    publish("dev", first, cloudformation=stack, s3=s3, cloudfront=cloudfront)
    second = _console(tmp_path / "second", {"index.html": "2", "js/kept.js": "kept, changed"})
    published = publish("dev", second, cloudformation=stack, s3=s3, cloudfront=cloudfront)
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == ["config.json", "index.html", "js/kept.js"]
    assert published.deleted == ["js/old.js"]
    assert s3.get_object(Bucket=BUCKET, Key="index.html")["Body"].read() == b"2"
    invalidations = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    assert invalidations["Quantity"] == 2
    assert published.invalidation_id in [item["Id"] for item in invalidations["Items"]]
    batch = cloudfront.get_invalidation(DistributionId=distribution_id, Id=published.invalidation_id)
    assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


def test_more_than_a_thousand_stale_files_are_deleted_in_batches(
    aws: tuple[Any, Any], stack: StackOutputs, tmp_path: Path
) -> None:
    s3, cloudfront = aws
    for number in range(1_005):
        s3.put_object(Bucket=BUCKET, Key=f"old/{number}.js", Body=b"")
    published = publish(
        "dev", _console(tmp_path, {"index.html": "x"}), cloudformation=stack, s3=s3, cloudfront=cloudfront
    )
    assert len(published.deleted) == 1_005
    assert sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == [
        "config.json",
        "index.html",
    ]


class Recorder:
    """An S3 stand-in that records the order of the puts."""

    def __init__(self) -> None:
        self.put: list[str] = []

    def put_object(self, **request: Any) -> None:
        self.put.append(request["Key"])

    def get_paginator(self, name: str) -> Any:
        return self

    def paginate(self, Bucket: str) -> list[dict[str, Any]]:  # noqa: N803 - boto3's argument name
        return [{"Contents": [{"Key": key} for key in self.put]}]


class Invalidations:
    def create_invalidation(self, **request: Any) -> dict[str, Any]:
        return {"Invalidation": {"Id": "I1"}}


def test_pages_go_up_after_everything_they_load(stack: StackOutputs, tmp_path: Path) -> None:
    s3 = Recorder()
    console = _console(tmp_path, {"index.html": "", "about.html": "", "a.js": "", "z.css": ""})
    publish("dev", console, cloudformation=stack, s3=s3, cloudfront=Invalidations())
    assert s3.put == ["a.js", "z.css", "config.json", "about.html", "index.html"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"index.html": "", "tool.exe": ""}, "no Content-Type is known for .exe"),
        ({"index.html": "", "Makefile": ""}, "no Content-Type is known for a file without a suffix"),
        ({"main.js": ""}, "has no index.html"),
    ],
    ids=["unknown-suffix", "no-suffix", "no-index"],
)
def test_a_console_that_cannot_be_served_right_is_refused_before_anything_is_written(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    with pytest.raises(PublishError, match=expected):
        console_files(_console(tmp_path, files))


def test_a_stack_without_the_console_outputs_is_refused(tmp_path: Path) -> None:
    stack = StackOutputs({"EndpointURL": "https://x/dev/"})
    with pytest.raises(PublishError, match="sdp-prod has no output ConsoleUrl, ConsoleBucketName"):
        publish("prod", _console(tmp_path, {"index.html": ""}), cloudformation=stack, s3=None, cloudfront=None)


def test_the_command_names_its_stage_and_reports_a_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        publish_console.main(["qa"])
    assert publish_console.main(["dev", "--app-dir", str(tmp_path / "missing"), "--region", REGION]) == 1
    assert "is not a folder of the console's files" in capsys.readouterr().err
