"""The delivery pipeline (pipeline.yaml), its build (buildspec.yml) and the deploy settings
(samconfig.toml) hold together: lint-clean, checkov-clean, stages in order, least privilege."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.package import STAGES
from infra.validate import checkov, lint

ROOT = Path(__file__).resolve().parent.parent.parent
PIPELINE = ROOT / "pipeline.yaml"
BUILDSPEC = ROOT / "buildspec.yml"
SAMCONFIG = ROOT / "samconfig.toml"
CAPABILITIES = {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}
PACKAGED_FILES = ("sam.yaml", "deployment.zip", "duckdb-layer.zip", "parameters.json")

# IAM statements allowed a "*" resource, each because its actions have no resource level
# (pipeline.yaml says so beside each one).
STAR_RESOURCE_STATEMENTS = {
    "IngestQueueMappingCreate",  # lambda:CreateEventSourceMapping, limited by lambda:FunctionArn
    "StageKeysCreate",  # kms:CreateKey
    "LogGroupListAndWafLogDelivery",  # logs:DescribeLogGroups and the log delivery WAF logging needs
    "UserPoolCreate",  # cognito-idp:CreateUserPool
    "PaginationSecretValue",  # secretsmanager:GetRandomPassword
    "ConsoleOriginAccessControlCreate",  # cloudfront:CreateOriginAccessControl
}
CONSOLE_BUCKETS = [
    f"arn:${{AWS::Partition}}:s3:::sdp-{stage}-console-${{AWS::AccountId}}-${{AWS::Region}}" for stage in STAGES
]


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(PIPELINE))


@pytest.fixture(scope="module")
def resources(pipeline: dict[str, Any]) -> dict[str, Any]:
    return pipeline["Resources"]


@pytest.fixture(scope="module")
def stages(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return resources["Pipeline"]["Properties"]["Stages"]


@pytest.fixture(scope="module")
def buildspec() -> dict[str, Any]:
    return yaml.safe_load(BUILDSPEC.read_text())


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    return tomllib.loads(SAMCONFIG.read_text())


def _environment(action: dict[str, Any]) -> dict[str, str]:
    """A CodeBuild action's environment variables (a JSON string in its configuration)."""
    import json

    variables = action["Configuration"].get("EnvironmentVariables", "[]")
    if isinstance(variables, dict):  # !Sub "…"
        variables = variables["Fn::Sub"]
    return {variable["name"]: variable["value"] for variable in json.loads(variables)}


def _inline_buildspec(resources: dict[str, Any], project: str) -> dict[str, Any]:
    return yaml.safe_load(resources[project]["Properties"]["Source"]["BuildSpec"])


def _commands(buildspec: dict[str, Any], phase: str) -> str:
    return "\n".join(buildspec["phases"][phase].get("commands", []))


def _statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, statement)
        for name, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        for policy in resource["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- Offline checks -------------------------------------------------------------------------------


def test_cfn_lint_finds_no_error() -> None:
    assert lint(PIPELINE) == []


def test_checkov_fails_no_check() -> None:
    passed, failed, failures = checkov(PIPELINE)
    assert failures == []
    assert (passed > 0, failed) == (True, 0)


def test_every_checkov_skip_gives_its_reason(resources: dict[str, Any]) -> None:
    for name, resource in resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
            assert len(skip.get("comment", "")) > 30, f"{name} skips {skip['id']} without a reason"


# --- The stages -----------------------------------------------------------------------------------


def test_the_stages_run_in_order(stages: list[dict[str, Any]]) -> None:
    assert [stage["Name"] for stage in stages] == [
        "Source",
        "Build",
        "DeployDev",
        "SmokeDev",
        "Approval",
        "DeployStage",
        "SmokeStage",
        "DeployProd",
        "SmokeProd",
    ]
    assert all(len(stage["Actions"]) == 1 for stage in stages)  # one step at a time, nothing in parallel


def test_each_stage_does_its_part(resources: dict[str, Any], stages: list[dict[str, Any]]) -> None:
    (source, build, dev, smoke, approval, stage, smoke_stage, prod, smoke_prod) = (s["Actions"][0] for s in stages)
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == {"Ref": "ConnectionArn"}
    assert source["Configuration"]["FullRepositoryId"] == {"Ref": "FullRepositoryId"}
    assert source["Configuration"]["BranchName"] == {"Ref": "BranchName"}
    assert build["Configuration"]["ProjectName"] == {"Ref": "BuildProject"}
    assert resources["BuildProject"]["Properties"]["Source"]["BuildSpec"] == "buildspec.yml"
    assert approval["ActionTypeId"] == {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}
    # Every deploy is followed by the smoke test of that stage; a failure stops the build there.
    for action, name in ((smoke, "dev"), (smoke_stage, "stage"), (smoke_prod, "prod")):
        assert action["Configuration"]["ProjectName"] == {"Ref": "SmokeProject"}
        assert _environment(action)["STAGE"] == name
    for action, name in ((dev, "dev"), (stage, "stage"), (prod, "prod")):
        assert action["Configuration"]["ProjectName"] == {"Ref": "DeployProject"}
        assert _environment(action)["STAGE"] == name
        assert [artifact["Name"] for artifact in action["InputArtifacts"]] == ["BuildOutput"]
    # Only one stack per account and region may set the account-wide settings.
    assert _environment(stage)["MANAGE_ACCOUNT_SETTINGS"] == "false"
    assert _environment(prod)["MANAGE_ACCOUNT_SETTINGS"] == "false"


def test_the_pipeline_is_v2_with_an_encrypted_artifact_store(resources: dict[str, Any]) -> None:
    pipeline = resources["Pipeline"]["Properties"]
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["ArtifactStore"]["Location"] == {"Ref": "ArtifactBucket"}
    assert pipeline["ArtifactStore"]["EncryptionKey"] == {"Type": "KMS", "Id": {"Fn::GetAtt": ["PipelineKey", "Arn"]}}


def test_deploys_run_sam_deploy_of_the_packaged_stage_and_keep_rollback(resources: dict[str, Any]) -> None:
    deploy = _inline_buildspec(resources, "DeployProject")
    commands = _commands(deploy, "build")
    assert 'sam deploy --config-env "$STAGE"' in commands
    # The zips go to the pipeline's own encrypted bucket, the stack is changed by the execution role.
    for option in ("--no-resolve-s3", '--s3-bucket "$ARTIFACT_BUCKET"', '--kms-key-id "$ARTIFACT_KEY_ARN"'):
        assert option in commands
    assert '--role-arn "$CLOUDFORMATION_ROLE_ARN"' in commands
    assert "--on-failure ROLLBACK" in commands
    assert "--disable-rollback" not in commands
    assert "DO_NOTHING" not in commands
    assert "make .venv-infra/.installed" in _commands(deploy, "install")


def test_each_deploy_publishes_the_console_to_its_stage_after_the_stack_is_deployed(resources: dict[str, Any]) -> None:
    commands = _inline_buildspec(resources, "DeployProject")["phases"]["build"]["commands"]
    deploy = next(i for i, command in enumerate(commands) if "sam deploy" in command)
    publish = commands.index('.venv-infra/bin/python -m infra.publish_console "$STAGE"')
    assert publish == deploy + 1 == len(commands) - 1  # after the stack, before the stage's smoke test


def test_the_smoke_stages_run_the_smoke_module_against_their_stack(resources: dict[str, Any]) -> None:
    smoke = _inline_buildspec(resources, "SmokeProject")
    assert '.venv-infra/bin/python -m tests.smoke --stack-name "sdp-$STAGE"' in _commands(smoke, "build")


def test_the_venv_the_deploy_and_smoke_stages_build_is_a_makefile_target() -> None:
    completed = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", ".venv-infra/.installed"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


# --- Least privilege ------------------------------------------------------------------------------


def test_every_role_names_its_actions(resources: dict[str, Any]) -> None:
    for role, statement in _statements(resources):
        for action in _listed(statement["Action"]):
            # Named actions only: no "*", no "service:*", no "service:Put*".
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), f"{role} {statement.get('Sid')}: {action}"


def test_a_star_resource_only_where_the_actions_have_no_resource_level(resources: dict[str, Any]) -> None:
    starred = {statement.get("Sid") for _, statement in _statements(resources) if "*" in _listed(statement["Resource"])}
    assert starred == STAR_RESOURCE_STATEMENTS


def test_the_deploy_role_reaches_only_the_platform_stacks(resources: dict[str, Any]) -> None:
    statements = {statement["Sid"]: statement for role, statement in _statements(resources) if role == "DeployRole"}
    stacks = [resource["Fn::Sub"] for resource in statements["PlatformStacks"]["Resource"]]
    assert stacks == [
        f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/sdp-{stage}/*"
        for stage in STAGES
    ]
    assert statements["HandStackToCloudFormation"]["Resource"] == {"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}
    assert statements["HandStackToCloudFormation"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
    }


def test_the_deploy_role_publishes_only_to_the_stages_consoles(resources: dict[str, Any]) -> None:
    """The publisher's rights and no more: put, delete and list in the three console buckets,
    invalidate only the distributions tagged as a stage's console, read the stacks' outputs."""
    statements = {statement["Sid"]: statement for role, statement in _statements(resources) if role == "DeployRole"}
    files, listing, invalidation = (
        statements[sid] for sid in ("ConsoleFiles", "ConsoleListing", "ConsoleInvalidation")
    )
    assert (files["Effect"], files["Action"]) == ("Allow", ["s3:PutObject", "s3:DeleteObject"])
    assert [resource["Fn::Sub"] for resource in files["Resource"]] == [f"{bucket}/*" for bucket in CONSOLE_BUCKETS]
    assert (listing["Action"], [resource["Fn::Sub"] for resource in listing["Resource"]]) == (
        "s3:ListBucket",
        CONSOLE_BUCKETS,
    )
    assert invalidation["Action"] == "cloudfront:CreateInvalidation"
    assert invalidation["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/*"}
    assert invalidation["Condition"] == {"StringEquals": {"aws:ResourceTag/sdp-console": list(STAGES)}}
    assert "cloudformation:DescribeStacks" in statements["PlatformStacks"]["Action"]
    # No other statement of the role reaches S3 beyond the artifact bucket, or CloudFront at all.
    for sid, statement in statements.items():
        if sid in ("ConsoleFiles", "ConsoleListing", "ConsoleInvalidation"):
            continue
        assert not [action for action in _listed(statement["Action"]) if action.startswith("cloudfront:")], sid
        if any(action.startswith("s3:") for action in _listed(statement["Action"])):
            assert "ArtifactBucket" in str(statement["Resource"]), sid


def test_the_console_names_match_the_templates(resources: dict[str, Any]) -> None:
    """The bucket names and the tag the deploy role relies on are the ones template.yaml gives."""
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    name = template["ConsoleBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert [name.replace("${Stage}", stage) for stage in STAGES] == [
        bucket.removeprefix("arn:${AWS::Partition}:s3:::") for bucket in CONSOLE_BUCKETS
    ]
    assert template["ConsoleDistribution"]["Properties"]["Tags"] == [{"Key": "sdp-console", "Value": {"Ref": "Stage"}}]


def test_artifacts_and_logs_are_encrypted_with_the_rotating_key(resources: dict[str, Any]) -> None:
    assert resources["PipelineKey"]["Properties"]["EnableKeyRotation"] is True
    key = {"Fn::GetAtt": ["PipelineKey", "Arn"]}
    bucket = resources["ArtifactBucket"]["Properties"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (tls_only,) = resources["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (tls_only["Effect"], tls_only["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    for project in ("BuildProject", "DeployProject", "SmokeProject"):
        properties = resources[project]["Properties"]
        assert properties["EncryptionKey"] == key
        assert properties["Environment"]["PrivilegedMode"] is False
        group = resources[properties["LogsConfig"]["CloudWatchLogs"]["GroupName"]["Ref"]]["Properties"]
        assert group["KmsKeyId"] == key
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_cloudformation_never_changes_the_pipelines_own_roles_key_or_bucket(resources: dict[str, Any]) -> None:
    denied = {
        statement["Sid"]: statement["Resource"]
        for role, statement in _statements(resources)
        if role == "CloudFormationExecutionRole" and statement["Effect"] == "Deny"
    }
    assert denied == {
        "NotThePipelineRoles": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-*"},
        "NotThePipelineKey": {"Fn::GetAtt": ["PipelineKey", "Arn"]},
        "NotTheArtifactBucket": {"Fn::GetAtt": ["ArtifactBucket", "Arn"]},
    }


# --- buildspec.yml --------------------------------------------------------------------------------


def test_the_build_runs_make_test_on_python_3_11(buildspec: dict[str, Any]) -> None:
    assert buildspec["version"] == 0.2
    assert str(buildspec["phases"]["install"]["runtime-versions"]["python"]) == "3.11"
    assert buildspec["phases"]["build"]["commands"] == ["make test"]


def test_the_build_artifact_holds_every_stage_and_what_the_later_stages_run(buildspec: dict[str, Any]) -> None:
    files = buildspec["artifacts"]["files"]
    for stage in STAGES:
        for name in PACKAGED_FILES:
            assert f"out/{stage}/{name}" in files
    for name in ("samconfig.toml", "Makefile", "requirements-infra.txt", "tests/__init__.py", "tests/smoke.py"):
        assert name in files
    # The console's files and its publisher, which the deploy stages run.
    for name in ("app/**/*", "infra/__init__.py", "infra/publish_console.py"):
        assert name in files
    # Everything the smoke module and the publisher import from the repository travels with them.
    for script, package in (("tests/smoke.py", "tests."), ("infra/publish_console.py", "infra.")):
        tree = ast.parse((ROOT / script).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        for module in sorted(name for name in imported if name.startswith(package)):
            assert module.replace(".", "/") + ".py" in files, module
    for name in files:
        assert name.startswith(("out/", "app/")) or (ROOT / name).is_file(), name


# --- samconfig.toml -------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_samconfig_deploys_each_stage_from_its_packaged_folder(samconfig: dict[str, Any], stage: str) -> None:
    deploy = samconfig[stage]["deploy"]["parameters"]
    assert deploy["template_file"] == f"out/{stage}/sam.yaml"
    assert deploy["stack_name"] == f"sdp-{stage}"
    assert set(deploy["capabilities"].split()) == CAPABILITIES
    assert f"Stage={stage}" in deploy["parameter_overrides"].split()
    assert deploy.get("resolve_s3") is True or deploy.get("s3_bucket")
    assert deploy["s3_prefix"] == f"sdp-{stage}"
    assert deploy["fail_on_empty_changeset"] is False
    assert deploy["confirm_changeset"] is (stage == "prod")
    # CloudFormation rolls a failed deployment back: nothing here turns that off.
    assert deploy.get("disable_rollback", False) is False
    assert deploy.get("on_failure", "ROLLBACK") == "ROLLBACK"
    assert "region" not in deploy  # the caller's profile or environment decides


def test_samconfig_has_exactly_the_three_stages(samconfig: dict[str, Any]) -> None:
    assert {name for name, section in samconfig.items() if isinstance(section, dict) and "deploy" in section} == set(
        STAGES
    )
