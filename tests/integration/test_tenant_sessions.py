"""Every AWS call made for a tenant is signed by that tenant's own session (TenantDataRole with its
session tags), and no session ever touches another tenant's data.

A whole scenario of two tenants runs in-process (every upload path, ingest, listing, reading,
queries, results, deletes) while every request the app sends to AWS is recorded with the access
key that signed it. Then each request is attributed to the tenant whose data it touches (an S3 key
or prefix under `tenants/{t}/`, a table item under `TENANT#{t}`) and its key compared with the
keys STS issued for that tenant.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests
from chalice.test import Client

from chalicelib.services import Services
from localplatform.template import load_template, resource_properties
from tests.api import ChaliceApi, add_member, run_query, sign_up, upload_direct, wait_settled
from tests.ingestor import drain_ingest_queue

CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
TENANT_KEY = re.compile(r"tenants/([0-9A-Za-z_-]+)/")
TENANT_PARTITION = re.compile(r"TENANT#([0-9A-Za-z_-]+)")
CONTROL_PLANE = ("USER#", "MEMBER#")  # memberships and members: the function's own role writes those


@dataclass(frozen=True)
class Sent:
    service: str
    operation: str
    key_id: str
    target: str  # what the request names: URL path and query, or the JSON body


class Recorder:
    """Hooks on the boto3 session every client of the app is made from."""

    def __init__(self, session: Any) -> None:
        self.sent: list[Sent] = []
        self.tenant_keys: dict[str, set[str]] = defaultdict(set)  # tenant id → access keys STS gave it
        self._asked = threading.local()
        self._lock = threading.Lock()
        # First in line: moto's own before-send handler answers the request and ends the chain.
        session.events.register_first("before-send", self._before_send)
        session.events.register("after-call.sts.AssumeRole", self._assumed)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".")
        authorization = request.headers.get("Authorization", b"")
        found = CREDENTIAL.search(authorization.decode() if isinstance(authorization, bytes) else authorization)
        body = request.body.decode(errors="replace") if isinstance(request.body, bytes) else str(request.body or "")
        if operation == "AssumeRole":
            self._asked.tenant = parse_qs(body)["Tags.member.1.Value"][0]
        parsed = urlparse(request.url)
        target = unquote(parsed.path) + "?" + unquote(parsed.query) + " " + body
        with self._lock:
            self.sent.append(Sent(service, operation, found.group(1) if found else "", target))

    def _assumed(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.tenant_keys[self._asked.tenant].add(parsed["Credentials"]["AccessKeyId"])

    def key_owner(self, key_id: str) -> str | None:
        return next((tenant for tenant, keys in self.tenant_keys.items() if key_id in keys), None)


def tenants_touched(sent: Sent) -> set[str]:
    """The tenants whose data a request touches (none: not tenant data, or the control plane)."""
    if sent.service == "s3":
        return set(TENANT_KEY.findall(sent.target))
    if sent.service == "dynamodb" and not any(marker in sent.target for marker in CONTROL_PLANE):
        return set(TENANT_PARTITION.findall(sent.target))
    if sent.service in ("glue", "athena"):
        return {match.upper() for match in re.findall(r"sdp_local_([0-9a-z]+)", sent.target)}
    return set()


@pytest.fixture
def recorder(aws: Any) -> Recorder:
    return Recorder(aws)  # before any client exists: each client copies the session's hooks


def _scenario(recorder: Recorder, api: ChaliceApi, services: Services, app: Any) -> list[dict[str, Any]]:
    """Two tenants use everything the API offers; their presigned uploads."""
    posts = []
    recorder.sent.clear()  # what provisioning did before is not the app's
    for label in ("first", "second"):
        admin = sign_up(api, label=label)
        analyst = add_member(api, admin, "analyst", label=f"{label}-analyst")
        kept = upload_direct(api, analyst, "sales.csv", b"region,amount\nnorth,3\nsouth,4\n").body["file_id"]
        started = api.call("POST", "/uploads", json_body={"name": "more.csv", "size": 12}, token=analyst.id_token)
        upload = started.body["upload"]
        posts.append(upload)
        posted = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("more.csv", b"n\n1\n2\n3\n4\n5\n")}, timeout=30
        )
        assert posted.status_code in (200, 204), posted.text
        big = api.call("POST", "/uploads", json_body={"name": "big.csv", "size": 200 << 20}, token=analyst.id_token)
        api.call("GET", f"/uploads/{big.body['file_id']}/parts?from=2", token=analyst.id_token)
        drain_ingest_queue(services, app)
        assert wait_settled(api, analyst, kept)["status"] == "READY"
        assert wait_settled(api, analyst, started.body["file_id"])["status"] == "READY"
        api.call("GET", "/files", token=analyst.id_token)
        api.call("GET", f"/files/{kept}/content", token=analyst.id_token)
        api.call("GET", "/tables", token=analyst.id_token)
        query = run_query(api, analyst, "SELECT sum(amount) AS total FROM sales")
        assert query["rows"] == [[7]], query
        again = run_query(api, analyst, "SELECT count(*) AS n FROM sales")  # with the tables as listed
        assert again["rows"] == [[2]], again
        api.call("GET", f"/queries/{query['query_id']}/results.csv", token=analyst.id_token)
        api.call("GET", "/queries", token=analyst.id_token)
        estimate = {"sql": "SELECT amount FROM sales", "dry_run": True}
        assert api.call("POST", "/queries", json_body=estimate, token=analyst.id_token).status == 200
        budget = {"monthly_scan_budget_bytes": 10**9}
        assert api.call("PATCH", "/tenant", json_body=budget, token=admin.id_token).status == 200
        assert api.call("GET", "/tenant/usage", token=analyst.id_token).status == 200
        saved = {"name": "totals", "sql": "SELECT sum(amount) AS total FROM sales"}
        saved_id = api.call("POST", "/saved-queries", json_body=saved, token=analyst.id_token).body["saved_query_id"]
        assert api.call("POST", f"/saved-queries/{saved_id}/run", token=analyst.id_token).status == 202
        assert api.call("DELETE", f"/files/{started.body['file_id']}", token=admin.id_token).status == 204
        assert api.call("DELETE", f"/files/{big.body['file_id']}", token=admin.id_token).status == 204
    return posts


def test_every_call_for_a_tenant_is_signed_by_that_tenants_session(
    recorder: Recorder, platform_services: Services, client: Client, app: Any
) -> None:
    posts = _scenario(recorder, ChaliceApi(client), platform_services, app)

    assert len(recorder.tenant_keys) == 2
    misattributed = []
    covered: set[tuple[str, str]] = set()
    for sent in recorder.sent:
        for tenant in tenants_touched(sent):
            covered.add((sent.service, sent.operation))
            if recorder.key_owner(sent.key_id) != tenant:
                misattributed.append(f"{sent.service}.{sent.operation} for {tenant} signed by {sent.key_id}")
    assert misattributed == []
    # The scenario reached tenant data through every kind of call the app makes for a tenant.
    assert {
        ("s3", "PutObject"),
        ("s3", "HeadObject"),
        ("s3", "GetObject"),
        ("s3", "ListObjectVersions"),
        ("s3", "DeleteObjects"),
        ("s3", "CreateMultipartUpload"),
        ("dynamodb", "Query"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "TransactWriteItems"),
    } <= covered
    # Presigned uploads carry the tenant session's key too: the URL can reach nothing else.
    for upload, tenant in zip(posts, recorder.tenant_keys, strict=True):
        signer = upload["fields"]["x-amz-credential"].split("/")[0]
        assert recorder.key_owner(signer) == tenant


def test_the_functions_own_key_signs_only_the_control_plane(
    recorder: Recorder, aws: Any, platform_services: Services, client: Client, app: Any
) -> None:
    _scenario(recorder, ChaliceApi(client), platform_services, app)
    own = aws.get_credentials().access_key
    by_own_key = {(s.service, s.operation) for s in recorder.sent if s.key_id == own}
    assert ("sts", "AssumeRole") in by_own_key
    services_used = {service for service, _ in by_own_key}
    # S3, Glue and Athena are reached only with a tenant's session; the table only for memberships,
    # members and tenants (and the queue, the pool, the secret and STS, which belong to no tenant).
    assert services_used <= {"dynamodb", "sqs", "cognito-identity-provider", "secrets-manager", "sts"}, by_own_key


def test_every_dynamodb_action_a_tenant_session_takes_is_one_its_role_allows(
    recorder: Recorder, platform_services: Services, client: Client, app: Any
) -> None:
    """moto does not enforce IAM: what TenantDataRole allows on the table is checked here against
    what the tenants' sessions did (a transaction needs each of its items' own action)."""
    _scenario(recorder, ChaliceApi(client), platform_services, app)
    statements = resource_properties(load_template(), "TenantDataRole")["Policies"][0]["PolicyDocument"]["Statement"]
    [own_partition] = [statement for statement in statements if statement["Sid"] == "OwnPartition"]
    used: set[str] = set()
    for sent in recorder.sent:
        if sent.service != "dynamodb" or recorder.key_owner(sent.key_id) is None:
            continue
        if sent.operation == "TransactWriteItems":
            items = json.loads(sent.target.split(" ", 1)[1])["TransactItems"]
            used |= {f"dynamodb:{kind}Item" for item in items for kind in item}
        else:
            used.add(f"dynamodb:{sent.operation}")
    assert "dynamodb:ConditionCheckItem" in used  # the second query's tables, checked as it takes its slot
    assert used <= set(own_partition["Action"]), used - set(own_partition["Action"])
