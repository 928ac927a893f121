"""The local SQS: moto's, with SQS's costs.

moto keeps every receipt handle of every message ever deleted from a queue (so that deleting one
again succeeds), and checks each message it hands out against the queue's retention period by
computing every attribute of the queue, counts of its messages included. The first grew memory
with every message; the second made a receive cost O(messages waiting). Here a queue remembers the
receipt handles of its latest deleted messages only, and the retention period is read as itself.

moto's receive, delete and visibility change are not safe beside each other: two workers polling
one queue failed inside its scan of the messages, and a delete, which builds the queue's message
list afresh, could drop a message that a notification added meanwhile. Here each holds the queue's
own lock (the one a notification adds a message under); a receive waits for messages without it.

moto looks at every message of a queue to send one (it computes the queue's attributes, counts
included) and to receive one, asking each message the time twice through datetime arithmetic.
Here the time is read from the clock: the same milliseconds in 0.1 µs rather than 4, which keeps
a queue thousands of uploads deep quick.
"""

from __future__ import annotations

import datetime
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import moto.sqs.models as moto_sqs_models
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import unix_time
from moto.core.utils import unix_time_millis as moto_unix_time_millis
from moto.sqs import urls as moto_sqs_urls
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends

# Receipt handles of deleted messages a queue remembers: a delete sent again within that many
# deletes succeeds, as SQS lets a consumer delete a message twice.
REMEMBERED_DELETES = 10_000


class RecentHandles:
    """The receipt handles of a queue's latest deleted messages (moto's `deleted_messages`)."""

    def __init__(self, most: int = REMEMBERED_DELETES) -> None:
        self._handles: OrderedDict[str, None] = OrderedDict()
        self._most = most

    def __contains__(self, handle: object) -> bool:
        return handle in self._handles

    def __len__(self) -> int:
        return len(self._handles)

    def update(self, handles: Iterable[str | None]) -> None:
        for handle in handles:
            if handle is not None:
                self._handles[handle] = None
                self._handles.move_to_end(handle)
        while len(self._handles) > self._most:
            self._handles.popitem(last=False)


class LocalSQS(SQSBackend):
    """moto's SQS backend whose queues remember only their latest deletes."""

    @property
    def _url_module(self) -> Any:
        return moto_sqs_urls  # moto finds a backend's routes next to its class's module

    def create_queue(self, name: str, tags: dict[str, str] | None = None, **kwargs: Any) -> Queue:
        queue = super().create_queue(name, tags, **kwargs)
        if not isinstance(queue.deleted_messages, RecentHandles):
            queue.deleted_messages = RecentHandles()  # type: ignore[assignment]
        return queue

    def receive_message(
        self,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Message]:
        queue = self.get_queue(queue_name)
        deadline = unix_time() + wait_seconds_timeout
        while True:
            with queue._messages_lock:
                received = super().receive_message(queue_name, count, 0, visibility_timeout, message_attribute_names)
            left = deadline - unix_time()
            if received or left <= 0:
                return received
            queue.wait_for_messages(min(left, 1))  # type: ignore[arg-type]

    def delete_message(self, queue_name: str, receipt_handle: str) -> None:
        with self.get_queue(queue_name)._messages_lock:
            super().delete_message(queue_name, receipt_handle)

    def change_message_visibility(self, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        with self.get_queue(queue_name)._messages_lock:
            super().change_message_visibility(queue_name, receipt_handle, visibility_timeout)

    def is_message_valid_based_on_retention_period(self, queue_name: str, message: Message) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()  # type: ignore[operator]


def unix_time_millis(moment: datetime.datetime | None = None) -> float:
    """moto's milliseconds since the epoch; now's read from the clock."""
    return time.time() * 1000.0 if moment is None else moto_unix_time_millis(moment)


def install(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> LocalSQS:
    """Make the local SQS the one moto answers with for this account and region."""
    moto_sqs_models.unix_time_millis = unix_time_millis
    backend = LocalSQS(region, account_id)
    sqs_backends[account_id][region] = backend
    return backend


def uninstall(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Empty the local SQS and give the account and region back to moto's own, made afresh on
    first use."""
    moto_sqs_models.unix_time_millis = moto_unix_time_millis
    backend = sqs_backends[account_id].pop(region, None)
    if backend is not None:
        backend.reset()
