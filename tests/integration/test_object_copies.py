"""A local file stored as an object arrives whole, small (one PUT) or large (the transfer manager)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.files.objects import SINGLE_PUT_BYTES, ObjectStore

BUCKET = "copies"


@pytest.mark.parametrize("size", [0, 5, SINGLE_PUT_BYTES - 1, SINGLE_PUT_BYTES + 3])
def test_a_local_file_is_stored_whole_whatever_its_size(aws: Any, tmp_path: Path, size: int) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    local = tmp_path / "part-0.parquet"
    local.write_bytes(data)

    ObjectStore(s3, BUCKET).upload(local, "tenants/t/curated/f/part-0.parquet", "application/vnd.apache.parquet")

    stored = s3.get_object(Bucket=BUCKET, Key="tenants/t/curated/f/part-0.parquet")
    assert (stored["ContentLength"], stored["ContentType"]) == (size, "application/vnd.apache.parquet")
    assert stored["Body"].read() == data
