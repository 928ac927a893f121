"""Every write to the data and results buckets names the stage's key (their policies refuse a write
naming any other encryption or key): direct puts, uploads, presigned POSTs and multipart uploads."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.files.objects import SINGLE_PUT_BYTES, ObjectStore

BUCKET = "sdp-test-encrypted"


@pytest.fixture
def s3(aws: Any) -> Any:
    client = aws.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def key_arn(aws: Any) -> str:
    return aws.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]


def _encryption(s3: Any, key: str) -> tuple[str | None, str | None]:
    head = s3.head_object(Bucket=BUCKET, Key=key)
    return head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")


def test_a_presigned_post_carries_the_stage_key_in_its_fields_and_its_policy(s3: Any, key_arn: str) -> None:
    url, fields = ObjectStore(s3, BUCKET, key_arn).presigned_post("tenants/t/raw/f", 5, "text/csv", 900)
    assert fields["x-amz-server-side-encryption"] == "aws:kms"
    assert fields["x-amz-server-side-encryption-aws-kms-key-id"] == key_arn
    conditions = json.loads(base64.b64decode(fields["policy"]))["conditions"]
    assert {"x-amz-server-side-encryption": "aws:kms"} in conditions
    assert {"x-amz-server-side-encryption-aws-kms-key-id": key_arn} in conditions
    # The form, fields and policy as signed, is one S3 takes (moto keeps no encryption a form names).
    response = requests.post(url, data=fields, files={"file": ("f.csv", b"a,b\n1")}, timeout=30)
    assert response.status_code in (200, 204)


def test_a_multipart_upload_is_started_with_the_stage_key(s3: Any, key_arn: str) -> None:
    store = ObjectStore(s3, BUCKET, key_arn)
    upload_id = store.start_multipart("tenants/t/raw/big", "text/csv")
    part = requests.put(store.part_url("tenants/t/raw/big", upload_id, 1, 5, 900), data=b"a,b\n1", timeout=30)
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="tenants/t/raw/big",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part.headers["ETag"]}]},
    )
    assert _encryption(s3, "tenants/t/raw/big") == ("aws:kms", key_arn)


@pytest.mark.parametrize("size", [10, SINGLE_PUT_BYTES + 1], ids=["one-put", "transfer-manager"])
def test_puts_and_uploads_name_the_stage_key(s3: Any, key_arn: str, tmp_path: Path, size: int) -> None:
    store = ObjectStore(s3, BUCKET, key_arn)
    store.put("tenants/t/raw/direct", b"a,b\n1", "text/csv")
    local = tmp_path / "part-0.parquet"
    local.write_bytes(b"x" * size)
    store.upload(local, "tenants/t/curated/f/part-0.parquet", "application/vnd.apache.parquet")
    assert _encryption(s3, "tenants/t/raw/direct") == ("aws:kms", key_arn)
    assert _encryption(s3, "tenants/t/curated/f/part-0.parquet") == ("aws:kms", key_arn)


def test_without_a_key_nothing_is_named_and_the_bucket_default_applies(s3: Any) -> None:
    _, fields = ObjectStore(s3, BUCKET).presigned_post("tenants/t/raw/f", 5, "text/csv", 900)
    assert not any(name.startswith("x-amz-server-side-encryption") for name in fields)
    ObjectStore(s3, BUCKET).put("tenants/t/raw/direct", b"a,b\n1", "text/csv")
    assert _encryption(s3, "tenants/t/raw/direct")[1] is None
