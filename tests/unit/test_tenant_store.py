"""Transactions DynamoDB cancels for a race (not a failed condition) are retried (Stubber)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.auth.roles import Role
from chalicelib.errors import Conflict
from chalicelib.tenancy.store import LastAdmin, Membership, TenantStore

MEMBER = Membership("T1", "U1", "ann@example.com", Role.ADMIN)


def _cancelled(*codes: str) -> dict[str, Any]:
    return {
        "service_error_code": "TransactionCanceledException",
        "service_message": "Transaction cancelled",
        "response_meta": {},
        "modeled_fields": {"CancellationReasons": [{"Code": code} for code in codes]},
    }


@pytest.fixture
def stubbed() -> Any:
    client = boto3.session.Session(region_name="us-east-1").client("dynamodb")
    with Stubber(client) as stubber:
        yield TenantStore(client, "sdp-test"), stubber
        stubber.assert_no_pending_responses()


def test_a_transaction_conflict_is_retried(stubbed: Any) -> None:
    store, stubber = stubbed
    stubber.add_client_error("transact_write_items", **_cancelled("None", "TransactionConflict", "None"))
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY})
    assert store.change_role(MEMBER, Role.VIEWER).role is Role.VIEWER


def test_a_failed_condition_is_not_retried(stubbed: Any) -> None:
    store, stubber = stubbed
    stubber.add_client_error("transact_write_items", **_cancelled("None", "None", "ConditionalCheckFailed"))
    with pytest.raises(LastAdmin):
        store.remove_member(MEMBER)


def test_conflicts_that_persist_ask_the_caller_to_retry(stubbed: Any) -> None:
    store, stubber = stubbed
    for _ in range(4):
        stubber.add_client_error("transact_write_items", **_cancelled("TransactionConflict", "None", "None"))
    with pytest.raises(Conflict) as raised:
        store.change_role(MEMBER, Role.VIEWER)
    assert raised.value.code == "member_changed"
