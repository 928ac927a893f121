"""What template.yaml declares, read as data: the properties AWS would otherwise be trusted for."""

from __future__ import annotations

import json
from typing import Any

from localplatform.template import Intrinsic, load_template, resource_properties
from tests.conftest import ROOT

TEMPLATE = load_template()


def _statements(policy_id: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in resource_properties(TEMPLATE, policy_id)["PolicyDocument"]["Statement"]}


def test_the_athena_workgroup_runs_engine_3_with_metrics_the_cutoff_and_kms_results() -> None:
    configuration = resource_properties(TEMPLATE, "AthenaWorkGroup")["WorkGroupConfiguration"]
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == Intrinsic("Ref", "BytesScannedCutoffPerQuery")
    assert "BytesScannedCutoffPerQuery" in TEMPLATE["Parameters"]
    encryption = configuration["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption == {"EncryptionOption": "SSE_KMS", "KmsKey": Intrinsic("GetAtt", "DataKey.Arn")}
    # Not enforced, so that each query's results go under its tenant's prefix (docs/architecture.md);
    # the results bucket itself then holds every result to the stage's key.
    assert configuration["EnforceWorkGroupConfiguration"] is False


def test_the_results_bucket_keeps_results_for_the_retention_period_encrypted_with_the_stage_key() -> None:
    bucket = resource_properties(TEMPLATE, "ResultsBucket")
    (default,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert default["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": Intrinsic("Ref", "DataKey"),
    }
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == Intrinsic("Ref", "ResultRetentionDays")
    assert all(bucket["PublicAccessBlockConfiguration"].values())

    statements = _statements("ResultsBucketPolicy")
    assert statements["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["StageKeyOnly"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert statements["StageKeyIdOnly"]["Condition"] == {
        "StringNotEqualsIfExists": {
            "s3:x-amz-server-side-encryption-aws-kms-key-id": Intrinsic("GetAtt", "DataKey.Arn")
        }
    }
    for sid in ("StageKeyOnly", "StageKeyIdOnly"):
        assert (statements[sid]["Effect"], statements[sid]["Action"]) == ("Deny", "s3:PutObject")


def test_the_api_function_can_neither_set_a_users_password_nor_confirm_a_sign_up_without_its_code() -> None:
    """Both are the local platform's shortcuts (it has no e-mail). In AWS only the mailbox of an
    address holds what sets an account's password or confirms it (docs/security.md)."""
    (policy,) = resource_properties(TEMPLATE, "ApiFunctionRole")["Policies"]
    actions = {
        action
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert "cognito-idp:AdminCreateUser" in actions
    assert not {"cognito-idp:AdminSetUserPassword", "cognito-idp:AdminConfirmSignUp"} & actions


def test_each_queue_hands_a_failed_message_back_only_after_its_function_has_given_up() -> None:
    """A queue's visibility timeout is at least six times its function's timeout (Lambda's advice
    for SQS event sources): a message still being handled is never delivered to another invocation."""
    functions = json.loads((ROOT / ".chalice" / "config.json").read_text())["lambda_functions"]
    for queue, function in (("IngestQueue", "ingest"), ("IngestDeadLetterQueue", "ingest_dead_letters")):
        assert resource_properties(TEMPLATE, queue)["VisibilityTimeout"] >= 6 * functions[function]["lambda_timeout"]


def test_the_dead_letter_function_is_fed_by_the_dead_letter_queue_with_its_own_role() -> None:
    function = resource_properties(TEMPLATE, "IngestDeadLetters")
    events = function["Events"]["IngestDeadLettersSqsEventSource"]["Properties"]
    assert events["Queue"] == Intrinsic("GetAtt", "IngestDeadLetterQueue.Arn")
    assert events["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert function["Role"] == Intrinsic("GetAtt", "DeadLetterFunctionRole.Arn")
    trusted = resource_properties(TEMPLATE, "TenantDataRole")["AssumeRolePolicyDocument"]["Statement"][0]
    assert Intrinsic("GetAtt", "DeadLetterFunctionRole.Arn") in trusted["Principal"]["AWS"]
