"""The local SQS answers as moto's own does, and forgets deleted messages beyond its latest deletes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends

from localplatform.sqs import LocalSQS, RecentHandles
from localplatform.sqs import install as install_local_sqs
from localplatform.sqs import uninstall as uninstall_local_sqs

LOCAL, MOTO = "us-east-1", "us-west-2"


@pytest.fixture
def queues() -> Iterator[list[tuple[Any, str]]]:
    with mock_aws():
        install_local_sqs(LOCAL)
        try:
            pair = []
            for region in (LOCAL, MOTO):
                client = boto3.client("sqs", region_name=region)
                url = client.create_queue(QueueName="work", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
                pair.append((client, url))
            assert isinstance(sqs_backends[DEFAULT_ACCOUNT_ID][LOCAL], LocalSQS)
            assert not isinstance(sqs_backends[DEFAULT_ACCOUNT_ID][MOTO], LocalSQS)
            yield pair
        finally:
            uninstall_local_sqs(LOCAL)


def _round(client: Any, url: str) -> list[Any]:
    """Send five, take them in twos, delete each twice, delete an unknown handle: what it answers."""
    for number in range(5):
        client.send_message(QueueUrl=url, MessageBody=f"m{number}")
    answers: list[Any] = []
    while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=2).get("Messages", []):
        answers.append(sorted(message["Body"] for message in messages))
        for message in messages:
            for _ in range(2):
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    try:
        client.delete_message(QueueUrl=url, ReceiptHandle="never-handed-out")
    except ClientError as error:
        answers.append(error.response["Error"]["Code"])
    return answers


def test_messages_are_handed_out_and_deleted_as_moto_does_it(queues: list[tuple[Any, str]]) -> None:
    (local, local_url), (moto, moto_url) = queues
    assert _round(local, local_url) == _round(moto, moto_url)


def test_a_queue_remembers_only_its_latest_deleted_messages() -> None:
    remembered = RecentHandles(most=3)
    remembered.update(["a", "b", None])
    remembered.update(["c", "d"])
    assert len(remembered) == 3
    assert "a" not in remembered
    assert all(handle in remembered for handle in "bcd")
    remembered.update(["b", "e"])  # b deleted again: now among the latest
    assert [handle in remembered for handle in "bcde"] == [True, False, True, True]
