from __future__ import annotations

import json

import pytest

from chalicelib.ingest.events import MalformedMessage, object_created_records
from tests.conftest import load_event


def _body(event_file: str) -> str:
    return load_event(event_file)["Records"][0]["body"]


def test_reads_an_object_created_record_and_decodes_its_key() -> None:
    [record] = object_created_records(_body("sqs_s3_object_created.json"))
    assert record.bucket == "sdp-local-data"
    assert record.key == "tenants/01JDXR6Q7M0000000000000000/raw/01JDXR7B2K0000000000000000"
    assert record.s3.object.size == 38
    assert record.s3.object.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert record.s3.object.version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert record.event_name == "ObjectCreated:Put"


def test_decodes_a_key_as_s3_encodes_it_spaces_as_plus() -> None:
    body = json.loads(_body("sqs_s3_object_created.json"))
    body["Records"][0]["s3"]["object"]["key"] = "tenants/t1/raw/f1+%28copy%29"
    [record] = object_created_records(json.dumps(body))
    assert record.key == "tenants/t1/raw/f1 (copy)"


def test_decodes_slashes_encoded_as_percent_2f() -> None:
    body = json.loads(_body("sqs_s3_object_created.json"))
    body["Records"][0]["s3"]["object"]["key"] = "tenants%2Ft1%2Fraw%2Ff1"
    [record] = object_created_records(json.dumps(body))
    assert record.key == "tenants/t1/raw/f1"


def test_the_s3_test_event_carries_no_records() -> None:
    assert object_created_records(_body("sqs_s3_test_event.json")) == []


def test_other_event_types_are_skipped() -> None:
    body = json.loads(_body("sqs_s3_object_created.json"))
    body["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert object_created_records(json.dumps(body)) == []


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[]", "{}", '{"Records": [{"eventName": "ObjectCreated:Put"}]}', '{"Records": "x"}'],
)
def test_anything_else_is_a_malformed_message(body: str) -> None:
    with pytest.raises(MalformedMessage) as raised:
        object_created_records(body)
    assert raised.value.code == "malformed_message"
