"""An object copied to a local file arrives whole, small (one GET) or large (the transfer manager)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.files.objects import SINGLE_PUT_BYTES, ObjectStore

BUCKET = "copies"


@pytest.mark.parametrize("size", [0, 5, SINGLE_PUT_BYTES - 1, SINGLE_PUT_BYTES + 3])
def test_an_object_is_copied_whole_whatever_its_size(aws: Any, tmp_path: Path, size: int) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    objects = ObjectStore(s3, BUCKET)
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    objects.put("tenants/t/curated/f/part-0.parquet", data, "application/vnd.apache.parquet")

    [(key, listed_size)] = objects.listed("tenants/t/curated/")
    objects.download(key, listed_size, tmp_path / "copy")

    assert listed_size == size
    assert (tmp_path / "copy").read_bytes() == data
