"""The data bucket: where a file's bytes live, and presigned access to them.

Its keys are chosen by the server, never by a client (`chalicelib/keys.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from chalicelib.errors import BadRequest, Conflict

SINGLE_PUT_BYTES = 8 * 1024 * 1024  # the transfer manager's own multipart threshold
# Metadata every presigned POST stores with its object (its policy requires it), so that ingest
# can tell a POST sent again after its file's record went from an object put around the API.
POSTED_METADATA = ("sdp-upload", "presigned-post")


@dataclass(frozen=True)
class StoredObject:
    """The current version of an object."""

    size: int
    etag: str
    version_id: str | None
    content_type: str
    posted: bool = False  # stored by a presigned POST (POSTED_METADATA)


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str
    size: int


class ObjectStore:
    def __init__(self, s3: Any, bucket: str, kms_key_arn: str | None = None) -> None:
        """`kms_key_arn`: the stage's key, named by every write (the buckets' policies refuse a
        write naming any other); None locally, where the bucket's default applies."""
        self._s3 = s3
        self._bucket = bucket
        self._kms_key_arn = kms_key_arn
        self._encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn} if kms_key_arn else {}

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type, **self._encryption)

    def presigned_post(self, key: str, size: int, content_type: str, expires_in: int) -> tuple[str, dict[str, str]]:
        """A browser-style POST for exactly this key and exactly `size` bytes, valid `expires_in` seconds.

        A presigned PUT cannot cap the size; a POST policy can. Its conditions pin the bucket,
        the key (an exact match, not a prefix), the content length, POSTED_METADATA and, in AWS,
        the stage's key.
        """
        marker = {f"x-amz-meta-{POSTED_METADATA[0]}": POSTED_METADATA[1]}
        encryption = (
            {
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": self._kms_key_arn,
            }
            if self._kms_key_arn
            else {}
        )
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type} | marker | encryption,
            # boto3 adds the exact bucket and key conditions itself.
            Conditions=[
                ["content-length-range", size, size],
                {"Content-Type": content_type},
                marker,
                *({name: value} for name, value in encryption.items()),
            ],
            ExpiresIn=expires_in,
        )
        return post["url"], post["fields"]

    def start_multipart(self, key: str, content_type: str) -> str:
        started = self._s3.create_multipart_upload(
            Bucket=self._bucket, Key=key, ContentType=content_type, **self._encryption
        )
        return started["UploadId"]

    def part_url(self, key: str, upload_id: str, part_number: int, size: int, expires_in: int) -> str:
        """A presigned PUT of one part that S3 accepts only with `Content-Length: size`.

        A URL that signs only the host takes a part of any size up to 5 GiB; signing the length
        holds each part, and so the upload, to the size its quota reserved.
        """
        return self._s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": part_number,
                "ContentLength": size,
            },
            ExpiresIn=expires_in,
        )

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, UploadedPart]:
        """The parts S3 holds for a multipart upload, by part number; {} if the upload is gone."""
        parts: dict[int, UploadedPart] = {}
        try:
            for page in self._s3.get_paginator("list_parts").paginate(Bucket=self._bucket, Key=key, UploadId=upload_id):
                for part in page.get("Parts", []):
                    parts[part["PartNumber"]] = UploadedPart(part["PartNumber"], part["ETag"], part["Size"])
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchUpload", "404"):
                return {}
            raise
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        try:
            self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]},
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "NoSuchUpload":
                raise Conflict(
                    "upload_not_found", "The multipart upload no longer exists; start a new upload."
                ) from error
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                raise BadRequest("invalid_parts", error.response["Error"].get("Message", code)) from error
            raise

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("NoSuchUpload", "404"):
                raise

    def download_url(self, key: str, filename: str, expires_in: int, version_id: str | None = None) -> str:
        """A presigned GET of the object (or of the version named) that saves as `filename`
        (RFC 6266, UTF-8)."""
        fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
        disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
        params = {"Bucket": self._bucket, "Key": key, "ResponseContentDisposition": disposition}
        return self._s3.generate_presigned_url(
            "get_object", Params=params | ({"VersionId": version_id} if version_id else {}), ExpiresIn=expires_in
        )

    def size_of(self, key: str) -> int | None:
        """The object's size, or None if there is no such object."""
        found = self.head(key)
        return found.size if found else None

    def head(self, key: str) -> StoredObject | None:
        """The object's current version, or None if there is no such object."""
        return self._head({"Bucket": self._bucket, "Key": key})

    def head_version(self, key: str, version_id: str) -> StoredObject | None:
        """One version of the object, or None if there is no such version."""
        return self._head({"Bucket": self._bucket, "Key": key, "VersionId": version_id})

    def _head(self, request: dict[str, str]) -> StoredObject | None:
        try:
            response = self._s3.head_object(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound", "NoSuchVersion"):
                return None
            raise
        return StoredObject(
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            version_id=response.get("VersionId"),
            content_type=response.get("ContentType") or "application/octet-stream",
            posted=response.get("Metadata", {}).get(POSTED_METADATA[0]) == POSTED_METADATA[1],
        )

    def chunks(self, key: str, version_id: str | None, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        """The bytes of one version of the object, streamed: never all in memory."""
        request = {"Bucket": self._bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
        body = self._s3.get_object(**request)["Body"]
        try:
            yield from body.iter_chunks(chunk_bytes)
        finally:
            body.close()

    def upload(self, path: Path, key: str, content_type: str) -> None:
        """Store a local file as an object, streamed: one PUT when small (the transfer manager's
        thread pool costs more than the request), in parts by the transfer manager when large."""
        if path.stat().st_size < SINGLE_PUT_BYTES:
            with path.open("rb") as body:
                self._s3.put_object(
                    Bucket=self._bucket, Key=key, Body=body, ContentType=content_type, **self._encryption
                )
            return
        self._s3.upload_file(str(path), self._bucket, key, ExtraArgs={"ContentType": content_type} | self._encryption)

    def versions(self, prefix: str, *, exact: bool = False) -> list[dict[str, str]]:
        """Every version and delete marker under `prefix` (or of exactly that key), as
        DeleteObjects names them."""
        pages = self._s3.get_paginator("list_object_versions").paginate(Bucket=self._bucket, Prefix=prefix)
        return [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for page in pages
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
            if not exact or entry["Key"] == prefix
        ]

    def delete_versions(self, versions: list[dict[str, str]]) -> None:
        # One DeleteObjects call takes at most 1,000 entries.
        for start in range(0, len(versions), 1000):
            batch = versions[start : start + 1000]
            response = self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(response['Errors'])} object versions")

    def delete_all_versions(self, prefix: str, *, exact: bool = False) -> None:
        """Delete every version and delete marker under `prefix` (or of exactly that key).

        The bucket is versioned: deleting only the current version would leave the bytes behind.
        """
        self.delete_versions(self.versions(prefix, exact=exact))
