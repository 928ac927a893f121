"""The sample events under events/ (what `sam local invoke -e` takes) through the handlers Lambda
calls: `app.app` for API Gateway's proxy events, the `ingest` function for the SQS one."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from chalice.test import Client

from chalicelib.release_check import token_claims
from localplatform.pump import Invocation
from tests.conftest import load_event


class LambdaContext:
    """The parts of Lambda's context object the app reads."""

    function_name = "sdp-dev-APIHandler"
    aws_request_id = "6f3bbf1e-0000-4000-8000-000000000000"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sdp-dev-APIHandler:live"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def test_the_api_request_event_answers_health(app: Any) -> None:
    response = app(load_event("api_request.json"), LambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "ok"
    assert response["headers"]["X-Request-Id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"  # API Gateway's own


def test_a_base64_body_reaches_the_route_byte_for_byte(app: Any, client: Client, platform_services: Any) -> None:
    """API Gateway sends every body base64-encoded (binary media types */*, infra/package.py): a
    Latin-1 file must arrive as its bytes, not as text re-encoded on the way."""
    from tests.api import ChaliceApi, sign_up

    account = sign_up(ChaliceApi(client))
    claims = {"sub": account.user_id, "email": account.email, "token_use": "id"}
    claims |= {"aud": platform_services.settings.user_pool_client_id, "iss": platform_services.settings.issuer}
    data = "city;population\nZürich;421878\n".encode("latin-1")
    event = copy.deepcopy(load_event("api_request.json"))
    event.update(
        resource="/files",
        path="/files",
        httpMethod="POST",
        queryStringParameters={"name": "cities.csv"},
        multiValueQueryStringParameters={"name": ["cities.csv"]},
        body=base64.b64encode(data).decode(),
        isBase64Encoded=True,
    )
    event["headers"] |= {"Content-Type": "text/csv", "Authorization": account.id_token}
    event["multiValueHeaders"] |= {"Content-Type": ["text/csv"], "Authorization": [account.id_token]}
    event["requestContext"] |= {"resourcePath": "/files", "httpMethod": "POST", "authorizer": {"claims": claims}}

    response = app(event, LambdaContext())
    assert response["statusCode"] == 201, response["body"]
    record = json.loads(response["body"])
    assert record["size"] == len(data)
    key = f"tenants/{account.tenant_id}/raw/{record['file_id']}"
    stored = platform_services.clients.s3.get_object(Bucket=platform_services.settings.data_bucket, Key=key)
    assert stored["Body"].read() == data


def test_the_object_created_event_names_a_raw_upload_of_the_local_platform_and_is_ingested(
    app: Any, platform_services: Any
) -> None:
    """The event's bucket and key are the local platform's raw layout: with its tenant and object
    there, the ingest function turns it into a table."""
    event = load_event("sqs_s3_object_created.json")
    [record] = json.loads(event["Records"][0]["body"])["Records"]
    bucket, key = record["s3"]["bucket"]["name"], record["s3"]["object"]["key"]
    assert bucket == platform_services.settings.data_bucket
    _, tenant_id, _, file_id = key.split("/")
    platform_services.tenants.create_tenant(tenant_id, "sam local", "user-1", "ann@example.com")
    data = b"region,amount\nnorth,10\nsouth,5\nwest,2\n"
    assert len(data) == record["s3"]["object"]["size"]
    platform_services.clients.s3.put_object(Bucket=bucket, Key=key, Body=data)

    # As Lambda calls it: the ingest function's own 15 minutes to run in.
    answer = app.handler_map["ingest"](copy.deepcopy(event), Invocation("ingest", 3008, 900_000, None))
    assert answer == {"batchItemFailures": []}
    stored = platform_services.for_tenant(tenant_id).records.get(tenant_id, file_id)
    assert stored is not None
    assert (stored.status.value, stored.row_count) == ("READY", 3)


def test_the_authenticated_event_reads_me_with_the_claims_api_gateway_passes(
    app: Any, client: Client, platform_services: Any
) -> None:
    """events/api_me.json, its claims those of a real account (as a developer puts their own in)."""
    from tests.api import ChaliceApi, sign_up

    account = sign_up(ChaliceApi(client))
    event = copy.deepcopy(load_event("api_me.json"))
    claims = token_claims(account.id_token)
    event["requestContext"]["authorizer"]["claims"] = claims
    event["headers"]["Authorization"] = f"Bearer {account.id_token}"
    response = app(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["tenant_id"] == account.tenant_id


def test_a_token_without_the_authorizers_claims_is_refused(app: Any, client: Client, platform_services: Any) -> None:
    """What `sam local start-api` sends: the token, but no Cognito authorizer ran, so there are no
    claims. The app takes identity only from claims the authorizer verified: 401."""
    from tests.api import ChaliceApi, sign_up

    account = sign_up(ChaliceApi(client))
    event = copy.deepcopy(load_event("api_me.json"))
    del event["requestContext"]["authorizer"]
    event["headers"]["Authorization"] = f"Bearer {account.id_token}"
    response = app(event, LambdaContext())
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "unauthenticated"
