"""The local platform's resources are the ones template.yaml declares: they cannot drift apart."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localplatform.resources import LocalResources, allow_browser_uploads
from localplatform.template import Intrinsic, load_template, resource_properties


@pytest.fixture
def provisioned(aws: Any, local_resources: LocalResources) -> tuple[Any, LocalResources]:
    return aws, local_resources


def test_the_table_has_the_templates_keys_and_indexes(provisioned: tuple[Any, LocalResources]) -> None:
    session, resources = provisioned
    declared = resource_properties(load_template(), "Table")
    table = session.client("dynamodb").describe_table(TableName=resources.table)["Table"]

    assert table["KeySchema"] == declared["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(declared["AttributeDefinitions"], key=str)
    local_indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in table.get("GlobalSecondaryIndexes", [])
    }
    declared_indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in declared.get("GlobalSecondaryIndexes", [])
    }
    assert local_indexes == declared_indexes
    assert table["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]
    ttl = session.client("dynamodb").describe_time_to_live(TableName=resources.table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == declared["TimeToLiveSpecification"]["AttributeName"]


def test_the_ingest_queue_redrives_to_the_dead_letter_queue_as_declared(
    provisioned: tuple[Any, LocalResources],
) -> None:
    session, resources = provisioned
    declared = resource_properties(load_template(), "IngestQueue")
    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=resources.ingest_queue.url, AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == resources.ingest_dlq.arn
    assert int(redrive["maxReceiveCount"]) == declared["RedrivePolicy"]["maxReceiveCount"]
    assert int(attributes["VisibilityTimeout"]) == declared["VisibilityTimeout"]
    assert attributes["KmsMasterKeyId"] == resources.kms_key_id


def test_the_bucket_notifies_the_ingest_queue_of_created_objects_under_tenants(
    provisioned: tuple[Any, LocalResources],
) -> None:
    session, resources = provisioned
    s3 = session.client("s3")
    [notification] = s3.get_bucket_notification_configuration(Bucket=resources.data_bucket)["QueueConfigurations"]
    assert notification["QueueArn"] == resources.ingest_queue.arn
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    assert notification["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "tenants/"}]
    encryption = s3.get_bucket_encryption(Bucket=resources.data_bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert s3.get_bucket_versioning(Bucket=resources.data_bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=resources.data_bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_the_user_pool_and_client_are_configured_as_declared(provisioned: tuple[Any, LocalResources]) -> None:
    session, resources = provisioned
    template = load_template()
    cognito = session.client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=resources.user_pool_id)["UserPool"]
    declared_pool = resource_properties(template, "UserPool")
    assert pool["Policies"]["PasswordPolicy"] == declared_pool["Policies"]["PasswordPolicy"]
    assert pool["UsernameAttributes"] == declared_pool["UsernameAttributes"]
    client = cognito.describe_user_pool_client(
        UserPoolId=resources.user_pool_id, ClientId=resources.user_pool_client_id
    )["UserPoolClient"]
    declared_client = resource_properties(template, "UserPoolClient")
    assert sorted(client["ExplicitAuthFlows"]) == sorted(declared_client["ExplicitAuthFlows"])
    assert "ClientSecret" not in client


def test_intrinsics_are_kept_as_written_not_guessed() -> None:
    table = resource_properties(load_template(), "Table")
    assert table["TableName"] == Intrinsic("Sub", "sdp-${Stage}")
    with pytest.raises(KeyError, match="NoSuchResource"):
        resource_properties(load_template(), "NoSuchResource")


def test_browser_uploads_are_allowed_from_the_console_origin_only_with_the_templates_rules(
    provisioned: tuple[Any, LocalResources],
) -> None:
    session, resources = provisioned
    s3 = session.client("s3")
    allow_browser_uploads(s3, resources.data_bucket, "http://127.0.0.1:8000")
    [cors] = s3.get_bucket_cors(Bucket=resources.data_bucket)["CORSRules"]
    [declared_cors] = resource_properties(load_template(), "DataBucket")["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedOrigins"] == ["http://127.0.0.1:8000"]
    assert sorted(cors["AllowedMethods"]) == sorted(declared_cors["AllowedMethods"])
    assert cors["ExposeHeaders"] == declared_cors["ExposedHeaders"]


def test_the_bucket_has_the_templates_lifecycle_rules(provisioned: tuple[Any, LocalResources]) -> None:
    session, resources = provisioned
    s3 = session.client("s3")
    declared = resource_properties(load_template(), "DataBucket")
    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=resources.data_bucket)["Rules"]}
    for declared_rule in declared["LifecycleConfiguration"]["Rules"]:
        rule = rules[declared_rule["Id"]]
        for field in ("AbortIncompleteMultipartUpload", "NoncurrentVersionExpiration"):
            assert rule.get(field) == declared_rule.get(field)


def test_the_pagination_secret_is_made_as_the_template_declares(provisioned: tuple[Any, LocalResources]) -> None:
    session, resources = provisioned
    declared = resource_properties(load_template(), "PaginationSecret")["GenerateSecretString"]
    secret = session.client("secretsmanager").get_secret_value(SecretId=resources.pagination_secret_id)["SecretString"]
    assert len(secret) == declared["PasswordLength"]
