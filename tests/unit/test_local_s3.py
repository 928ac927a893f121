"""The local S3 lists exactly what moto's own lists, reading only the keys under the prefix: the
same random puts, deletes and listings go to both (moto's in another account), and every page of
every listing must be the same."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from localplatform.s3 import LocalS3, PrefixKeyStore
from localplatform.s3 import install as install_local_s3
from localplatform.s3 import uninstall as uninstall_local_s3

OTHER_ACCOUNT = "222222222222"
NAMES = [
    f"tenants/{tenant}/{kind}/{n}{suffix}"
    for tenant in ("t1", "t10", "t2")
    for kind in ("raw", "curated")
    for n in range(3)
    for suffix in ("", "/part-0.parquet", "/part-1.parquet")
] + ["tenants", "tenants/", "top", "tenants/t1\U0010ffff"]
PREFIXES = ["", "tenants/", "tenants/t1", "tenants/t1/", "tenants/t1/raw/1", "tenants/t2/curated/", "top", "zz"]


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any, str]]:
    with mock_aws():
        install_local_s3()
        try:
            local = boto3.client("s3", region_name="us-east-1")
            assumed = boto3.client("sts", region_name="us-east-1").assume_role(
                RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/elsewhere", RoleSessionName="elsewhere"
            )["Credentials"]
            moto = boto3.client(
                "s3",
                region_name="us-east-1",
                aws_access_key_id=assumed["AccessKeyId"],
                aws_secret_access_key=assumed["SecretAccessKey"],
                aws_session_token=assumed["SessionToken"],
            )
            for client, bucket in ((local, "local-bucket"), (moto, "moto-bucket")):
                client.create_bucket(Bucket=bucket)
                client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            assert isinstance(s3_backends[DEFAULT_ACCOUNT_ID]["aws"], LocalS3)
            assert isinstance(s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets["local-bucket"].keys, PrefixKeyStore)
            assert not isinstance(s3_backends[OTHER_ACCOUNT]["aws"], LocalS3)
            yield local, moto, "local-bucket"
        finally:
            uninstall_local_s3()


def _pages(client: Any, operation: str, bucket: str, request: dict[str, Any]) -> list[Any]:
    """Every page of a listing, with what tells the two buckets apart (names, ids, times) left out."""
    pages = []
    for page in client.get_paginator(operation).paginate(Bucket=bucket, **request):
        pages.append(
            {
                "contents": [(entry["Key"], entry["Size"]) for entry in page.get("Contents", [])],
                "versions": [(entry["Key"], entry["Size"], entry["IsLatest"]) for entry in page.get("Versions", [])],
                "markers": [(entry["Key"], entry["IsLatest"]) for entry in page.get("DeleteMarkers", [])],
                "prefixes": page.get("CommonPrefixes", []),
                "truncated": page.get("IsTruncated"),
            }
        )
    return pages


def _versions(client: Any, bucket: str, key: str) -> list[str]:
    listed = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [
        entry["VersionId"]
        for entry in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
        if entry["Key"] == key
    ]


@pytest.mark.parametrize("seed", range(3))
def test_random_changes_are_listed_as_moto_lists_them(clients: tuple[Any, Any, str], seed: int) -> None:
    local, moto, _ = clients
    rng = random.Random(seed)
    for step in range(160):
        key = rng.choice(NAMES)
        change = rng.choice(["put", "put", "delete", "delete version"])
        for client, bucket in ((local, "local-bucket"), (moto, "moto-bucket")):
            if change == "put":
                client.put_object(Bucket=bucket, Key=key, Body=b"x" * (step % 7))
            elif change == "delete":
                client.delete_object(Bucket=bucket, Key=key)
            else:  # the oldest version, one by one: the key goes once its last version does
                versions = _versions(client, bucket, key)
                if versions:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key, "VersionId": versions[-1]}]})
        if step % 4 == 0:
            request: dict[str, Any] = {"Prefix": rng.choice(PREFIXES)}
            if rng.random() < 0.4:
                request["Delimiter"] = "/"
            if rng.random() < 0.6:
                request["PaginationConfig"] = {"PageSize": rng.randint(1, 7)}
            for operation in ("list_objects_v2", "list_object_versions"):
                assert _pages(local, operation, "local-bucket", request) == _pages(
                    moto, operation, "moto-bucket", request
                ), (
                    operation,
                    request,
                )


def test_a_listing_of_versions_copies_no_bytes_and_leaves_every_object_readable(clients: tuple[Any, Any, str]) -> None:
    local, _, bucket = clients
    local.put_object(Bucket=bucket, Key="tenants/t1/raw/a", Body=b"first")
    local.put_object(Bucket=bucket, Key="tenants/t1/raw/a", Body=b"second")
    local.put_object(Bucket=bucket, Key="tenants/t2/raw/b", Body=b"other")
    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys
    outside = stored.getlist("tenants/t2/raw/b")[0]

    for _ in range(3):
        listed = local.list_object_versions(Bucket=bucket, Prefix="tenants/t1/")
        assert [(v["Key"], v["IsLatest"]) for v in listed["Versions"]] == [
            ("tenants/t1/raw/a", True),
            ("tenants/t1/raw/a", False),
        ]

    # Every version is readable after the listings' copies are gone, and the key outside the
    # prefix is the very object stored, never copied.
    assert stored.getlist("tenants/t2/raw/b")[0] is outside
    versions = [v["VersionId"] for v in listed["Versions"]]
    bodies = [local.get_object(Bucket=bucket, Key="tenants/t1/raw/a", VersionId=v)["Body"].read() for v in versions]
    assert bodies == [b"second", b"first"]
    assert local.get_object(Bucket=bucket, Key="tenants/t2/raw/b")["Body"].read() == b"other"
