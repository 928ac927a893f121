"""TenantCredentials: the exact AssumeRole call, sessions kept and renewed in time, a bounded cache."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.aws.clients import AwsClients, TenantCredentials

ROLE = "arn:aws:iam::123456789012:role/sdp-dev-tenant-data-us-east-1"


@pytest.fixture
def sts() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _expect(stubber: Stubber, tenant_id: str, key: str, minutes_left: float) -> None:
    key = key.ljust(20, "X")  # as long as AWS's key ids
    expiration = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes_left)
    stubber.add_response(
        "assume_role",
        {
            "Credentials": {
                "AccessKeyId": key,
                "SecretAccessKey": "secret-" + key,
                "SessionToken": "token-" + key,
                "Expiration": expiration,
            }
        },
        {
            "RoleArn": ROLE,
            "RoleSessionName": f"tenant-{tenant_id}",
            "DurationSeconds": 3600,
            "Tags": [
                {"Key": "tenant_id", "Value": tenant_id},
                {"Key": "tenant_database", "Value": f"sdp_dev_{tenant_id.lower()}"},
            ],
        },
    )


def _credentials(sts: Any, **options: Any) -> TenantCredentials:
    clients = AwsClients(boto3.session.Session(region_name="us-east-1"), {"sts": sts})
    return TenantCredentials(clients, ROLE, "sdp_dev_", **({"min_remaining_seconds": 1200} | options))


def _key(clients: AwsClients) -> str:
    return clients.s3._request_signer._credentials.access_key.rstrip("X")


def test_a_tenant_gets_clients_signed_with_its_tagged_session(sts: tuple[Any, Stubber]) -> None:
    client, stubber = sts
    _expect(stubber, "01JDXR6Q7MAAAAAAAAAAAAAAAA", "ASIAFIRST", minutes_left=60)
    credentials = _credentials(client)
    scoped = credentials.clients("01JDXR6Q7MAAAAAAAAAAAAAAAA")
    assert _key(scoped) == "ASIAFIRST"


def test_a_session_is_reused_until_too_little_of_it_is_left(sts: tuple[Any, Stubber]) -> None:
    client, stubber = sts
    _expect(stubber, "T1", "ASIAONE", minutes_left=60)
    _expect(stubber, "T2", "ASIATWO", minutes_left=21)  # a URL of 20 minutes still fits
    _expect(stubber, "T3", "ASIATHREE", minutes_left=19)  # it would not: renewed at the next call
    _expect(stubber, "T3", "ASIAFOUR", minutes_left=60)
    credentials = _credentials(client)
    assert credentials.clients("T1") is credentials.clients("T1")
    assert credentials.clients("T2") is credentials.clients("T2")
    assert _key(credentials.clients("T3")) == "ASIATHREE"
    assert _key(credentials.clients("T3")) == "ASIAFOUR"


def test_tenants_never_share_a_session(sts: tuple[Any, Stubber]) -> None:
    client, stubber = sts
    _expect(stubber, "T1", "ASIAONE", minutes_left=60)
    _expect(stubber, "T2", "ASIATWO", minutes_left=60)
    credentials = _credentials(client)
    assert (_key(credentials.clients("T1")), _key(credentials.clients("T2"))) == ("ASIAONE", "ASIATWO")


def test_the_least_recently_used_tenant_is_forgotten_beyond_the_bound(sts: tuple[Any, Stubber]) -> None:
    client, stubber = sts
    for tenant, key in (("T1", "ASIA1"), ("T2", "ASIA2"), ("T3", "ASIA3"), ("T1", "ASIA1AGAIN")):
        _expect(stubber, tenant, key, minutes_left=60)
    credentials = _credentials(client, max_tenants=2)
    credentials.clients("T1")
    credentials.clients("T2")
    credentials.clients("T2")
    credentials.clients("T3")  # T1 goes
    assert _key(credentials.clients("T3")) == "ASIA3"
    assert _key(credentials.clients("T1")) == "ASIA1AGAIN"
