"""The packaged, transformed template of every stage holds what infra/checks.py asks, and the
checks catch a template broken on purpose."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import checks, waf
from infra.package import LAMBDA_PYTHON, LAYER_ZIP, STAGES, lambda_python, zip_sizes
from infra.validate import lint, load_yaml, transform

OUT = Path(__file__).resolve().parent.parent.parent / "out"
MB = 1_000_000


def _packaged(stage: str, name: str) -> Path:
    path = OUT / stage / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make validate` packages and transforms every stage first")
    return path


@pytest.fixture(scope="module", params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def template(stage: str) -> dict[str, Any]:
    return json.loads(_packaged(stage, "template.json").read_text())


@pytest.mark.parametrize("check", checks.CHECKS, ids=lambda check: check.__name__)
def test_the_stage_template_passes(template: dict[str, Any], check: checks.Check) -> None:
    assert check(template) == []


def test_the_zips_fit_lambda(stage: str) -> None:
    function_zipped, function_unzipped = zip_sizes(_packaged(stage, "deployment.zip"))
    layer_zipped, layer_unzipped = zip_sizes(_packaged(stage, "duckdb-layer.zip"))
    assert function_zipped < 50 * MB
    assert layer_zipped < 50 * MB
    assert function_unzipped + layer_unzipped < 250 * MB  # the ingest function takes both


def test_the_zips_carry_their_modules_compiled_for_lambdas_python(stage: str) -> None:
    """Lambda's code folder is read-only: what is not compiled in the zip, every cold start compiles."""
    if lambda_python() is None:
        pytest.skip(f"no Python {LAMBDA_PYTHON} here, so the zips were packaged without compiled modules")
    tag = "cpython-" + LAMBDA_PYTHON.replace(".", "")
    expected = {
        "deployment.zip": ["__pycache__/app", "chalicelib/__pycache__/settings", "pydantic/__pycache__/main"],
        LAYER_ZIP: ["python/duckdb/__pycache__/__init__"],
    }
    for archive, modules in expected.items():
        with zipfile.ZipFile(_packaged(stage, archive)) as package:
            names = set(package.namelist())
            assert not [name for name in names if name.endswith(".pyc") and tag not in name]  # no other Python's
            for module in modules:
                compiled = f"{module}.{tag}.pyc"
                assert compiled in names, compiled
                # PEP 552 flags: hash-based and never checked against the source, whose time the zip changes
                assert int.from_bytes(package.read(compiled)[4:8], "little") == 0b01, compiled


def test_the_function_zip_carries_the_platform_and_no_client(stage: str) -> None:
    """The `sdp` client and its command's libraries, the local platform and the tests are never shipped to Lambda."""
    with zipfile.ZipFile(_packaged(stage, "deployment.zip")) as package:
        top_level = {name.split("/")[0] for name in package.namelist()}
    assert {"app.py", "chalicelib"} <= top_level
    local_only = {"sdp", "localplatform", "tests", "bench", "infra", "httpx", "httpcore", "rich", "click", "tenacity"}
    assert not top_level & local_only


def test_only_prod_protects_its_table_and_pool_from_deletion(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert resources["Table"]["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert resources["UserPool"]["Properties"]["DeletionProtection"] == {"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]}
    assert resources["Table"]["DeletionPolicy"] == "Retain"


def test_each_ingest_message_is_an_invocation_of_its_own_and_dead_letters_are_settled(template: dict[str, Any]) -> None:
    """One message per ingest invocation, so a file never inherits another's spent time; the
    dead-letter queue feeds the function that ends given-up files FAILED."""
    mappings = {
        json.dumps(resource["Properties"]["EventSourceArn"]): resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    ingest = mappings[json.dumps({"Fn::GetAtt": ["IngestQueue", "Arn"]})]
    dead_letters = mappings[json.dumps({"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]})]
    assert ingest["BatchSize"] == 1
    for mapping in (ingest, dead_letters):
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "IngestDeadLetters" in json.dumps(dead_letters["FunctionName"])


# --- The checks fail when they should ------------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> dict[str, Any]:
    return json.loads(_packaged("dev", "template.json").read_text())


def _broken(template: dict[str, Any], change: Any) -> dict[str, Any]:
    broken = copy.deepcopy(template)
    change(broken["Resources"])
    return broken


@pytest.mark.parametrize(
    ("check", "change", "expected"),
    [
        (
            checks.buckets_are_encrypted_private_and_tls_only,
            lambda r: r["DataBucket"]["Properties"].pop("BucketEncryption"),
            "DataBucket: not encrypted with the stage key",
        ),
        (
            checks.buckets_are_encrypted_private_and_tls_only,
            lambda r: r["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].pop(),
            "DataBucket: a put naming other encryption or another key is not refused",
        ),
        (
            checks.everything_at_rest_uses_the_stage_key,
            lambda r: r["IngestQueue"]["Properties"].pop("KmsMasterKeyId"),
            "IngestQueue: AWS::SQS::Queue without the stage key",
        ),
        (
            checks.iam_grants_no_wildcards,
            lambda r: r["ApiFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
            ),
            "ApiFunctionRole: wildcard resource for ['s3:GetObject']",
        ),
        (
            checks.tenant_role_is_bound_to_the_session_tag,
            lambda r: next(
                s
                for s in r["TenantDataRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                if s["Sid"] == "OwnPartition"
            )["Condition"].pop("Null"),
            "TenantDataRole: DynamoDB statement lacks the Null guard on dynamodb:LeadingKeys",
        ),
        (
            checks.cognito_lets_clients_write_nothing_that_authorizes,
            lambda r: r["UserPoolClient"]["Properties"].__setitem__("WriteAttributes", ["email", "custom:tenant"]),
            "UserPoolClient: clients may write ['email', 'custom:tenant']",
        ),
        (
            checks.waf_guards_the_api_without_judging_sql_or_file_bodies,
            lambda r: r.pop("WebAclAssociation"),
            "the web ACL is not associated with the API's stage",
        ),
        (
            checks.alarms_cover_every_function_and_the_pipeline,
            lambda r: r.pop("IngestThrottlesAlarm"),
            "Ingest: no Throttles alarm",
        ),
        (
            checks.releases_are_canaries_rolled_back_by_alarms,
            lambda r: r["APIHandlerAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"].pop(
                "BeforeAllowTrafficHook"
            ),
            "APIHandler: no release check runs before traffic shifts to a new version",
        ),
        (
            checks.releases_are_canaries_rolled_back_by_alarms,
            lambda r: r["ApiCanaryServerErrorsAlarm"]["Properties"]["Dimensions"].pop(),
            "APIHandler: an alarm that rolls a release back mixes the old version's figures in",
        ),
        (
            checks.releases_are_canaries_rolled_back_by_alarms,
            lambda r: r["IngestDeploymentGroup"]["Properties"]["AlarmConfiguration"]["Alarms"].pop(0),
            "Ingest: no IngestFailures alarm rolls a release back",
        ),
    ],
    ids=[
        "encryption",
        "bucket-key-policy",
        "queue-key",
        "wildcard",
        "null-guard",
        "writable-attribute",
        "waf",
        "alarm",
        "release-check",
        "alarm-of-all-versions",
        "ingest-failures",
    ],
)
def test_a_deliberately_broken_template_fails_its_check(
    dev: dict[str, Any], check: checks.Check, change: Any, expected: str
) -> None:
    assert check(dev) == []
    assert expected in check(_broken(dev, change))


def _rule(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return next(rule for rule in resources["WebAcl"]["Properties"]["Rules"] if rule["Name"] == name)


def _without_overrides(resources: dict[str, Any]) -> None:
    for rule in resources["WebAcl"]["Properties"]["Rules"]:
        rule["Statement"].get("ManagedRuleGroupStatement", {}).pop("RuleActionOverrides", None)


def _complete_not_excluded(resources: dict[str, Any]) -> None:
    scope = _rule(resources, "CommonRules")["Statement"]["ManagedRuleGroupStatement"]["ScopeDownStatement"]
    scope["NotStatement"]["Statement"]["OrStatement"]["Statements"].pop()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _without_overrides,
            "the longest SQL Athena takes (POST /prod/queries): should be let through, "
            "is CommonRulesOnBodyRoutes/SizeRestrictions_BODY",
        ),
        (
            _complete_not_excluded,
            "a 10,000-part complete (POST /prod/uploads/01JABCDEFGHJKMNPQRSTVWXYZ0/complete): should be let "
            "through, is CommonRules/SizeRestrictions_BODY",
        ),
        (
            lambda r: r["WebAcl"]["Properties"]["Rules"].remove(_rule(r, "CommonRulesOnUploadComplete")),
            "no User-Agent on a complete (POST /prod/uploads/01JABCDEFGHJKMNPQRSTVWXYZ0/complete): should be "
            "blocked by NoUserAgent_HEADER, is let through",
        ),
    ],
    ids=["bodies-judged", "complete-blocked", "complete-unguarded"],
)
def test_the_waf_check_evaluates_the_rules_on_sample_requests(dev: dict[str, Any], change: Any, expected: str) -> None:
    assert expected in checks.waf_guards_the_api_without_judging_sql_or_file_bodies(_broken(dev, change))


def test_the_waf_model_reads_scope_down_statements_as_waf_does() -> None:
    complete = waf.Request("POST", "/dev/uploads/01J/complete")
    post = {"ByteMatchStatement": _byte_match({"Method": {}}, "POST", "EXACTLY")}
    ends = {"ByteMatchStatement": _byte_match({"UriPath": {}}, "/complete", "ENDS_WITH")}
    assert waf.matches({"AndStatement": {"Statements": [post, ends]}}, complete)
    assert not waf.matches({"NotStatement": {"Statement": ends}}, complete)
    assert not waf.matches(
        {"AndStatement": {"Statements": [post, ends]}}, waf.Request("GET", "/dev/uploads/01J/complete")
    )
    agent = {"ByteMatchStatement": _byte_match({"SingleHeader": {"Name": "User-Agent"}}, "curl", "STARTS_WITH")}
    assert waf.matches(agent, complete) is False
    assert waf.matches(agent, waf.Request("GET", "/", headers={"user-agent": "curl/8"}))


def _byte_match(target: dict[str, Any], text: str, constraint: str) -> dict[str, Any]:
    return {
        "FieldToMatch": target,
        "SearchString": text,
        "PositionalConstraint": constraint,
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
    }


def test_a_dependency_cycle_fails_validation(tmp_path: Path) -> None:
    sam = load_yaml(_packaged("dev", "sam.yaml"))
    # The bucket policy names the bucket; making the bucket wait for its policy closes a loop.
    sam["Resources"]["DataBucket"]["DependsOn"] = ["IngestQueuePolicy", "DataBucketPolicy"]
    broken = tmp_path / "template.json"
    broken.write_text(json.dumps(transform(sam, "dev")))
    assert any("E3004" in error for error in lint(broken))
    assert lint(_packaged("dev", "template.json")) == []
