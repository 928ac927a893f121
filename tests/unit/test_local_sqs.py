"""The local SQS answers as moto's own does, and forgets deleted messages beyond its latest deletes."""

from __future__ import annotations

import sys
import threading
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


def _busy(client: Any, url: str, count: int = 300, workers: int = 4) -> tuple[list[str], list[BaseException]]:
    """Workers receive and delete while a sender sends `count` messages, with threads switching as
    often as Python lets them: the bodies the workers received, and what any thread raised."""
    received: list[str] = []
    failures: list[BaseException] = []
    sent = threading.Event()

    def send() -> None:
        for number in range(count):
            client.send_message(QueueUrl=url, MessageBody=f"m{number}")
        sent.set()

    def work() -> None:
        try:
            while not (sent.is_set() and len(received) >= count):
                reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=2, WaitTimeSeconds=1)
                for message in reply.get("Messages", []):
                    received.append(message["Body"])
                    client.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=30
                    )
                    client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        except BaseException as error:  # reported to the test
            failures.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(workers)] + [threading.Thread(target=send)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    return received, failures


def test_workers_receiving_and_deleting_beside_a_sender_lose_no_message_and_fail_nowhere(
    queues: list[tuple[Any, str]],
) -> None:
    (local, local_url), _ = queues
    received, failures = _busy(local, local_url)
    assert failures == []
    assert sorted(received) == sorted(f"m{number}" for number in range(300))
    assert (
        local.get_queue_attributes(QueueUrl=local_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )


def test_a_long_poll_answers_with_a_message_sent_while_it_waits(queues: list[tuple[Any, str]]) -> None:
    (local, local_url), _ = queues
    sender = threading.Timer(0.3, lambda: local.send_message(QueueUrl=local_url, MessageBody="late"))
    sender.start()
    reply = local.receive_message(QueueUrl=local_url, WaitTimeSeconds=5)
    sender.join()
    assert [message["Body"] for message in reply["Messages"]] == ["late"]


def test_the_local_sqs_reads_the_time_as_moto_does() -> None:
    import time

    from moto.core.utils import unix_time_millis as moto_unix_time_millis
    from moto.core.utils import utcnow

    from localplatform.sqs import unix_time_millis

    before = moto_unix_time_millis()
    now = unix_time_millis()
    assert before <= now <= moto_unix_time_millis() + 1  # moto keeps microseconds only
    moment = utcnow()
    assert unix_time_millis(moment) == moto_unix_time_millis(moment)
    assert abs(now - time.time() * 1000) < 1000
