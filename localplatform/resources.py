"""Create, in the local AWS, every resource the app needs, from template.yaml's definitions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from secrets import token_urlsafe
from typing import Any

from localplatform.template import literal, load_template, resource_properties

STAGE = "local"


@dataclass(frozen=True)
class LocalQueue:
    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class LocalResources:
    """Names and ids of what `provision` created: the local stage's settings come from these."""

    table: str
    data_bucket: str
    results_bucket: str
    ingest_queue: LocalQueue
    ingest_dlq: LocalQueue
    user_pool_id: str
    user_pool_client_id: str
    kms_key_id: str
    pagination_secret_id: str
    tenant_role_arn: str

    def settings_environment(self, aws_endpoint: str) -> dict[str, str]:
        """The SDP_* variables the app's settings model reads."""
        return {
            "SDP_STAGE": STAGE,
            "SDP_TABLE_NAME": self.table,
            "SDP_DATA_BUCKET": self.data_bucket,
            "SDP_RESULTS_BUCKET": self.results_bucket,
            "SDP_INGEST_QUEUE_NAME": self.ingest_queue.name,
            "SDP_INGEST_DLQ_NAME": self.ingest_dlq.name,
            "SDP_USER_POOL_ID": self.user_pool_id,
            "SDP_USER_POOL_CLIENT_ID": self.user_pool_client_id,
            # moto serves the pool's keys here; in AWS the issuer's host serves them.
            "SDP_JWKS_URL": f"{aws_endpoint}/{self.user_pool_id}/.well-known/jwks.json",
            "SDP_PAGINATION_SECRET_ID": self.pagination_secret_id,
            "SDP_TENANT_ROLE_ARN": self.tenant_role_arn,
            # No e-mail here: sign-ups are confirmed at once, new members get the password given.
            "SDP_AUTO_CONFIRM_SIGNUP": "true",
        }


def provision(session: Any) -> LocalResources:
    """Create the key, queues, table, bucket (with its S3→SQS notification), user pool, secret and
    the tenant-data role."""
    template = load_template()
    kms_key_id = session.client("kms").create_key(Description=f"sdp-{STAGE}")["KeyMetadata"]["KeyId"]
    queues = _create_queues(session.client("sqs"), template, kms_key_id)
    table = _create_table(session.client("dynamodb"), template)
    bucket = _create_bucket(session.client("s3"), template, kms_key_id, queues["IngestQueue"].arn)
    results_bucket = _create_results_bucket(session.client("s3"), template, kms_key_id)
    pool_id, client_id = _create_user_pool(session.client("cognito-idp"), template)
    secret_id = _create_secret(session.client("secretsmanager"), template, kms_key_id)
    tenant_role_arn = _create_tenant_role(session.client("iam"), template)
    return LocalResources(
        table=table,
        data_bucket=bucket,
        results_bucket=results_bucket,
        ingest_queue=queues["IngestQueue"],
        ingest_dlq=queues["IngestDeadLetterQueue"],
        user_pool_id=pool_id,
        user_pool_client_id=client_id,
        kms_key_id=kms_key_id,
        pagination_secret_id=secret_id,
        tenant_role_arn=tenant_role_arn,
    )


def _create_queues(sqs: Any, template: dict[str, Any], kms_key_id: str) -> dict[str, LocalQueue]:
    """Both queues by logical id, the dead-letter one first (the other's redrive names it)."""
    created: dict[str, LocalQueue] = {}
    for logical_id, name in (
        ("IngestDeadLetterQueue", f"sdp-{STAGE}-ingest-dlq"),
        ("IngestQueue", f"sdp-{STAGE}-ingest"),
    ):
        properties = resource_properties(template, logical_id)
        attributes = {
            key: str(value) for key, value in literal(properties, "VisibilityTimeout", "MessageRetentionPeriod").items()
        }
        attributes["KmsMasterKeyId"] = kms_key_id
        if "RedrivePolicy" in properties:
            redrive = properties["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": created["IngestDeadLetterQueue"].arn,
                    "maxReceiveCount": redrive["maxReceiveCount"],
                }
            )
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        created[logical_id] = LocalQueue(name=name, url=url, arn=arn)
    return created


def _create_table(dynamodb: Any, template: dict[str, Any]) -> str:
    properties = resource_properties(template, "Table")
    name = f"sdp-{STAGE}"
    dynamodb.create_table(
        TableName=name,
        **literal(properties, "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"),
    )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return name


def _create_bucket(s3: Any, template: dict[str, Any], kms_key_id: str, queue_arn: str) -> str:
    properties = resource_properties(template, "DataBucket")
    name = f"sdp-{STAGE}-data"
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"])
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"])
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [_lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]
        },
    )
    _encrypt(s3, name, kms_key_id)
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                _queue_notification(entry, queue_arn)
                for entry in properties["NotificationConfiguration"]["QueueConfigurations"]
            ]
        },
    )
    return name


def _create_results_bucket(s3: Any, template: dict[str, Any], kms_key_id: str) -> str:
    properties = resource_properties(template, "ResultsBucket")
    name = f"sdp-{STAGE}-results"
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"])
    _encrypt(s3, name, kms_key_id)
    return name


def _encrypt(s3: Any, bucket: str, kms_key_id: str) -> None:
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )


def allow_browser_uploads(s3: Any, bucket: str, origin: str) -> None:
    """The data bucket's CORS rules from the template, for one origin: the console's. Set once the
    console's address is known (its port may be chosen when the server starts)."""
    rules = resource_properties(load_template(), "DataBucket")["CorsConfiguration"]["CorsRules"]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_cors_rule(rule, origin) for rule in rules]})


def _cors_rule(rule: dict[str, Any], origin: str) -> dict[str, Any]:
    """CloudFormation's CORS rule in the API's shape, allowing `origin` (in AWS: the console's distribution)."""
    return {
        "AllowedMethods": rule["AllowedMethods"],
        "AllowedOrigins": [origin],
        "AllowedHeaders": rule.get("AllowedHeaders", []),
        "ExposeHeaders": rule.get("ExposedHeaders", []),
        "MaxAgeSeconds": rule.get("MaxAge", 0),
    }


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape in the API's."""
    api_rule: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": ""}}
    if "AbortIncompleteMultipartUpload" in rule:
        api_rule["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "NoncurrentVersionExpiration" in rule:
        api_rule["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
    if rule.get("ExpiredObjectDeleteMarker"):
        api_rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    return api_rule


def _create_secret(secrets: Any, template: dict[str, Any], kms_key_id: str) -> str:
    """The pagination secret, generated here as Secrets Manager generates it in AWS."""
    length = resource_properties(template, "PaginationSecret")["GenerateSecretString"]["PasswordLength"]
    return secrets.create_secret(
        Name=f"sdp-{STAGE}-pagination", KmsKeyId=kms_key_id, SecretString=token_urlsafe(length)[:length]
    )["ARN"]


def _queue_notification(entry: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """CloudFormation's notification shape (Event, Filter.S3Key.Rules) in the API's (Events, Filter.Key.FilterRules)."""
    notification: dict[str, Any] = {"QueueArn": queue_arn, "Events": [entry["Event"]]}
    rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules", [])
    if rules:
        notification["Filter"] = {
            "Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}
        }
    return notification


def _create_user_pool(cognito: Any, template: dict[str, Any]) -> tuple[str, str]:
    pool = resource_properties(template, "UserPool")
    pool_id = cognito.create_user_pool(
        PoolName=f"sdp-{STAGE}",
        **literal(pool, "Policies", "UsernameAttributes", "UsernameConfiguration", "AutoVerifiedAttributes", "Schema"),
    )["UserPool"]["Id"]
    client = resource_properties(template, "UserPoolClient")
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"sdp-{STAGE}-api",
        **literal(
            client,
            "GenerateSecret",
            "ExplicitAuthFlows",
            "PreventUserExistenceErrors",
            "ReadAttributes",
            "WriteAttributes",
            "AccessTokenValidity",
            "IdTokenValidity",
            "RefreshTokenValidity",
            "TokenValidityUnits",
        ),
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def _create_tenant_role(iam: Any, template: dict[str, Any]) -> str:
    """The role the app assumes for each tenant. The local AWS enforces no IAM policy, so it is
    created with its trust and session limits only; the calls made with it are the same as in AWS."""
    role = resource_properties(template, "TenantDataRole")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}],
    }
    return iam.create_role(
        RoleName=f"sdp-{STAGE}-tenant-data",
        AssumeRolePolicyDocument=json.dumps(trust),
        **literal(role, "MaxSessionDuration", "Description"),
    )["Role"]["Arn"]
