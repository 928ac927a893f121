"""The sample events under events/ (what `sam local invoke -e` takes) through the handlers Lambda
calls: `app.app` for API Gateway's proxy events, the `ingest` function for the SQS one."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from chalice.test import Client

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


def test_the_sqs_event_is_handled_by_the_ingest_function(client: Client) -> None:
    event = load_event("sqs_s3_object_created.json")
    response = client.lambda_.invoke("ingest", copy.deepcopy(event))
    assert response.payload == {"batchItemFailures": []}
