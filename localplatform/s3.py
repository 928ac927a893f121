"""The local S3: moto's, with S3's costs.

moto keeps a bucket's keys in a plain dict. A listing walks every key of the bucket, whatever its
prefix, and a listing of versions first deep-copies every version of every key, bytes included:
deleting one file's objects read every byte the bucket held. Here a bucket also keeps its key names
sorted, and a listing reads only the names under its prefix; the versions it lists are copied
without their bytes. What a listing answers is moto's own answer, which tests compare call for call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3 import urls as moto_s3_urls
from moto.s3.models import FakeBucket, FakeKey, S3Backend, s3_backends
from moto.s3.utils import _VersionedKeyStore
from sortedcontainers import SortedList

from localplatform.prefixes import after_prefix


class PrefixKeyStore(_VersionedKeyStore):
    """A bucket's keys (each a list of versions), with their names kept sorted as well.

    Inside `listing(prefix)`, in the thread that opened it, iterating the store yields only the
    keys under that prefix: moto's listing code, run as it is, reads only what the listing asks
    for. moto changes a store only through `__setitem__`, `setlist` and `pop`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._names: SortedList = SortedList()
        self._names_lock = threading.Lock()  # requests run in threads; a SortedList is not thread-safe
        self._listing = threading.local()

    def __setitem__(self, key: str, value: Any) -> None:
        self._name(key)
        super().__setitem__(key, value)

    def setlist(self, key: str, list_: Any) -> None:
        self._name(key)
        super().setlist(key, list_)

    def pop(self, key: str) -> None:  # type: ignore[override]
        super().pop(key)
        with self._names_lock:
            self._names.discard(key)

    @contextmanager
    def listing(self, prefix: str) -> Iterator[None]:
        self._listing.prefix = prefix
        try:
            yield
        finally:
            del self._listing.prefix

    def _name(self, key: str) -> None:
        if not dict.__contains__(self, key):
            with self._names_lock:
                self._names.add(key)

    def _self_iterable(self) -> dict[str, Any]:
        prefix = getattr(self._listing, "prefix", None)
        if not prefix:
            return super()._self_iterable()
        with self._names_lock:
            names = list(self._names.irange(prefix, after_prefix(prefix), inclusive=(True, False)))
        return {name: dict.__getitem__(self, name) for name in names if dict.__contains__(self, name)}

    def _iterlists(self) -> Iterator[tuple[str, list[Any]]]:
        for key, versions in super()._iterlists():
            yield key, _ListedVersions(versions)

    lists = iterlists = _iterlists


class _ListedVersions(list):  # type: ignore[type-arg]
    """A key's versions as a listing reads them. moto deep-copies each version before it marks
    which one is the latest; a version's copy here shares its bytes instead of copying them."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [_without_bytes(version) for version in self]


class _ListedKey(FakeKey):
    """A version of a key as a listing shows it: the version's fields, sharing its bytes. The
    bytes stay the version's to dispose of: moto's keys close theirs when collected."""

    def __del__(self) -> None:
        return None


def _without_bytes(version: Any) -> Any:
    kind = _ListedKey if isinstance(version, FakeKey) else version.__class__
    listed = kind.__new__(kind)
    listed.__dict__.update(version.__dict__)  # the same buffer: a listing only reads it
    return listed


class LocalS3(S3Backend):
    """moto's S3 backend whose buckets list by prefix (`PrefixKeyStore`)."""

    @property
    def _url_module(self) -> Any:
        return moto_s3_urls  # moto finds a backend's routes next to its class's module

    def create_bucket(self, bucket_name: str, region_name: str, bucket_namespace: str | None = None) -> FakeBucket:
        bucket = super().create_bucket(bucket_name, region_name, bucket_namespace)
        bucket.keys = PrefixKeyStore()
        return bucket

    def list_objects(
        self, bucket: FakeBucket, prefix: str | None, delimiter: str | None, marker: str | None, max_keys: int | None
    ) -> Any:
        with _listing(bucket, prefix):
            return super().list_objects(bucket, prefix, delimiter, marker, max_keys)

    def list_object_versions(
        self,
        bucket_name: str,
        delimiter: str | None = None,
        key_marker: str | None = None,
        max_keys: int | None = 1000,
        prefix: str = "",
        version_id_marker: str | None = None,
    ) -> Any:
        with _listing(self.get_bucket(bucket_name), prefix):
            return super().list_object_versions(bucket_name, delimiter, key_marker, max_keys, prefix, version_id_marker)


def _listing(bucket: FakeBucket, prefix: str | None) -> Any:
    keys = bucket.keys
    return keys.listing(prefix) if isinstance(keys, PrefixKeyStore) and prefix else nullcontext()


def install(account_id: str = DEFAULT_ACCOUNT_ID) -> LocalS3:
    """Make the local S3 the one moto answers with for this account."""
    backend = LocalS3("aws", account_id)  # S3 has one backend per partition, not per region
    s3_backends[account_id]["aws"] = backend
    return backend


def uninstall(account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Empty the local S3 (its buckets' names are free again) and give the account back to moto's
    own S3, made afresh on first use."""
    backend = s3_backends[account_id].pop("aws", None)
    if backend is not None:
        backend.reset()
