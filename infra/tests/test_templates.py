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

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "out"
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


# --- The web console ------------------------------------------------------------------------------

# The console's Content-Security-Policy, as agreed with the console: ${DataBucketOrigins} alone
# varies (the local platform puts its own S3 origin there).
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self' ${DataBucketOrigins}; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _resolved(value: str, stage: str, region: str) -> str:
    """A `Fn::Sub` string with the pseudo parameters of a stack in `region` of a sample account."""
    names = {"Stage": stage, "AWS::AccountId": "123456789012", "AWS::Region": region, "AWS::URLSuffix": "amazonaws.com"}
    for name, resolved in names.items():
        value = value.replace("${" + name + "}", resolved)
    return value


def test_the_console_csp_is_one_string_in_which_only_the_data_bucket_origins_vary(
    template: dict[str, Any], stage: str
) -> None:
    """Read back as the local platform reads it: ConsoleHeadersPolicy's
    ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy,
    a `Fn::Sub` of [the CSP, {"DataBucketOrigins": …}]."""
    csp, variables = checks.console_csp(template)
    assert csp == CONSOLE_CSP == checks.CONSOLE_CSP
    assert set(variables) == {"DataBucketOrigins"}
    origins = _resolved(variables["DataBucketOrigins"]["Fn::Sub"], stage, "eu-west-1")
    assert origins == (
        f"https://sdp-{stage}-data-123456789012-eu-west-1.s3.amazonaws.com "
        f"https://sdp-{stage}-data-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com"
    )
    # The data bucket's name as the template gives it, spelled out.
    bucket = template["Resources"]["DataBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert origins.split()[0] == f"https://{_resolved(bucket, stage, 'eu-west-1')}.s3.amazonaws.com"


def test_the_local_platform_serves_the_same_headers_with_its_own_storage_origin(dev: dict[str, Any]) -> None:
    """`make run` serves the console with the CSP CloudFront sends, the local S3 in the place of
    the data bucket's origins (no HSTS over plain HTTP on loopback)."""
    from localplatform.console import console_headers

    csp, _ = checks.console_csp(dev)
    headers = console_headers("http://127.0.0.1:5000")
    assert headers["Content-Security-Policy"] == csp.replace("${DataBucketOrigins}", "http://127.0.0.1:5000")
    security = dev["Resources"]["ConsoleHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    assert headers["X-Frame-Options"] == security["SecurityHeadersConfig"]["FrameOptions"]["FrameOption"]
    assert headers["Referrer-Policy"] == security["SecurityHeadersConfig"]["ReferrerPolicy"]["ReferrerPolicy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_the_csp_lets_the_console_reach_every_presigned_url_of_the_data_bucket(
    dev: dict[str, Any], region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URLs the API hands a browser for uploads, signed as chalicelib/aws/clients.py signs them
    (SigV4, addressing style auto), are on an origin connect-src names."""
    import boto3
    from botocore.config import Config

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    _, variables = checks.console_csp(dev)
    allowed = _resolved(variables["DataBucketOrigins"]["Fn::Sub"], "dev", region).split()
    config = Config(signature_version="s3v4", s3={"addressing_style": "auto"})
    s3 = boto3.session.Session(region_name=region).client("s3", config=config)
    bucket = f"sdp-dev-data-123456789012-{region}"
    urls = [
        s3.generate_presigned_post(bucket, "tenants/t/raw/f")["url"],
        s3.generate_presigned_url(
            "upload_part", Params={"Bucket": bucket, "Key": "tenants/t/raw/f", "UploadId": "u", "PartNumber": 1}
        ),
        s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "tenants/t/raw/f"}),
    ]
    for url in urls:
        scheme, _, host = url.split("/", 3)[:3]
        assert f"{scheme}//{host}" in allowed, url


def test_the_console_and_the_api_are_one_origin_named_by_the_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["ConsoleUrl"]["Value"] == {"Fn::Sub": "https://${ConsoleDistribution.DomainName}"}
    assert outputs["ConsoleBucketName"]["Value"] == {"Ref": "ConsoleBucket"}
    assert outputs["ConsoleDistributionId"]["Value"] == {"Ref": "ConsoleDistribution"}
    for name in ("UserPoolId", "UserPoolClientId", "Region"):
        assert name in outputs
    config = template["Resources"]["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    (api,) = [origin for origin in config["Origins"] if origin["Id"] == "api"]
    # The API Gateway stage's path, as chalice names the stage (.chalice/config.json).
    assert api["OriginPath"]["Fn::Sub"].startswith("/${RestAPI")
    assert config["HttpVersion"] == "http2and3"
    assert config["DefaultCacheBehavior"]["Compress"] is True
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


def _console_policy(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["ConsoleHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]


def _set_csp(resources: dict[str, Any], old: str, new: str) -> None:
    csp = _console_policy(resources)["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    assert old in csp[0]
    csp[0] = csp[0].replace(old, new)


def _distribution(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["ConsoleDistribution"]["Properties"]["DistributionConfig"]


def _without_behavior(resources: dict[str, Any], pattern: str) -> None:
    behaviors = _distribution(resources)["CacheBehaviors"]
    behaviors.remove(next(behavior for behavior in behaviors if behavior["PathPattern"] == pattern))


def _behavior(resources: dict[str, Any], pattern: str) -> dict[str, Any]:
    return next(b for b in _distribution(resources)["CacheBehaviors"] if b["PathPattern"] == pattern)


def _console_origin(resources: dict[str, Any]) -> dict[str, Any]:
    return next(origin for origin in _distribution(resources)["Origins"] if origin["Id"] == "console")


def _read_by_anyone(resources: dict[str, Any]) -> None:
    resources["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${ConsoleBucket.Arn}/*"},
        },
    )


QUERY = "/queries/01JABCDEFGHJKMNPQRSTVWXYZ0"


@pytest.mark.parametrize(
    ("check", "change", "expected"),
    [
        (
            checks.buckets_are_encrypted_private_and_tls_only,
            lambda r: r["ConsoleBucket"]["Properties"]["PublicAccessBlockConfiguration"].update(
                RestrictPublicBuckets=False
            ),
            "ConsoleBucket: public access not fully blocked",
        ),
        (
            checks.buckets_are_encrypted_private_and_tls_only,
            lambda r: r["ConsoleBucket"]["Properties"].pop("BucketEncryption"),
            "ConsoleBucket: not encrypted with S3's keys (SSE-S3)",
        ),
        (
            checks.console_bucket_is_read_by_its_distribution_alone,
            _read_by_anyone,
            "ConsoleBucket: its policy lets more than ConsoleDistribution read",
        ),
        (
            checks.console_bucket_is_read_by_its_distribution_alone,
            lambda r: r["ConsoleBucket"]["Properties"].__setitem__(
                "WebsiteConfiguration", {"IndexDocument": "index.html"}
            ),
            "ConsoleBucket: a public website endpoint",
        ),
        (
            checks.console_bucket_is_read_by_its_distribution_alone,
            lambda r: _console_origin(r).pop("OriginAccessControlId"),
            "ConsoleDistribution: the console origin has no origin access control",
        ),
        (
            checks.console_bucket_is_read_by_its_distribution_alone,
            lambda r: r["ConsoleOriginAccessControl"]["Properties"]["OriginAccessControlConfig"].update(
                SigningBehavior="never"
            ),
            "ConsoleOriginAccessControl: does not always sign with SigV4 for S3",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _set_csp(r, "; frame-ancestors 'none'", ""),
            "CSP: frame-ancestors is not 'none': None",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _set_csp(r, "frame-ancestors 'none'", "frame-ancestors 'self'"),
            "CSP: frame-ancestors is not 'none'",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _set_csp(r, "style-src 'self'", "style-src 'self' 'unsafe-inline'"),
            "CSP: allows [\"'unsafe-inline'\"]",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _set_csp(r, "script-src 'self'", "script-src 'self' 'unsafe-eval'"),
            "CSP: default-src is not 'none' or script-src not 'self' alone",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _console_policy(r).pop("StrictTransportSecurity"),
            "HSTS: not two years with subdomains and preload",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _console_policy(r)["StrictTransportSecurity"].update(AccessControlMaxAgeSec=86400),
            "HSTS: not two years with subdomains and preload",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _console_policy(r).pop("ContentTypeOptions"),
            "X-Content-Type-Options: nosniff is not sent",
        ),
        (
            checks.console_sends_its_security_headers,
            lambda r: _distribution(r)["DefaultCacheBehavior"].update(ViewerProtocolPolicy="allow-all"),
            "ConsoleDistribution default: answers plain HTTP",
        ),
        (
            checks.console_and_api_share_one_origin,
            lambda r: _without_behavior(r, "/queries/*"),
            f"ConsoleDistribution: {QUERY} is not routed to the API",
        ),
        (
            checks.console_and_api_share_one_origin,
            lambda r: _without_behavior(r, "/me"),
            "ConsoleDistribution: /me is not routed to the API",
        ),
        (
            checks.console_and_api_share_one_origin,
            lambda r: _without_behavior(r, "/saved-queries/*"),
            "ConsoleDistribution: /saved-queries/01J is not routed to the API",
        ),
        (
            checks.console_and_api_share_one_origin,
            lambda r: _behavior(r, "/tenant/*").update(TargetOriginId="console"),
            "ConsoleDistribution: /tenant/members is not routed to the API",
        ),
        (
            checks.console_and_api_share_one_origin,
            lambda r: _behavior(r, "/auth/*").update(OriginRequestPolicyId="acba4595-bd28-49b8-b9fe-13317c0390fa"),
            "ConsoleDistribution /auth/*: the API does not get the viewer's headers (Authorization)",
        ),
        (
            checks.console_and_api_share_one_origin,
            lambda r: _distribution(r).__setitem__(
                "CustomErrorResponses", [{"ErrorCode": 403, "ResponseCode": 200, "ResponsePagePath": "/index.html"}]
            ),
            "ConsoleDistribution: custom error responses would replace the API's errors",
        ),
        (
            checks.data_bucket_cors_allows_the_console_alone,
            lambda r: r["DataBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0].__setitem__(
                "AllowedOrigins", ["*"]
            ),
            "DataBucket: CORS allows any origin",
        ),
        (
            checks.data_bucket_cors_allows_the_console_alone,
            lambda r: r["DataBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0].__setitem__(
                "AllowedOrigins", ["https://example.com"]
            ),
            "DataBucket: CORS does not allow the console's origin",
        ),
    ],
    ids=[
        "console-bucket-public-access",
        "console-bucket-unencrypted",
        "console-bucket-policy-public",
        "console-bucket-website",
        "no-origin-access-control",
        "unsigned-origin-access-control",
        "csp-without-frame-ancestors",
        "csp-framable",
        "csp-unsafe-inline",
        "csp-unsafe-eval",
        "no-hsts",
        "short-hsts",
        "no-nosniff",
        "plain-http",
        "query-path-to-the-bucket",
        "me-to-the-bucket",
        "saved-queries-to-the-bucket",
        "tenant-to-the-bucket",
        "authorization-dropped",
        "custom-error-responses",
        "cors-star",
        "cors-without-the-console",
    ],
)
def test_a_console_broken_on_purpose_fails_its_check(
    dev: dict[str, Any], check: checks.Check, change: Any, expected: str
) -> None:
    assert check(dev) == []
    assert any(expected in problem for problem in check(_broken(dev, change))), check(_broken(dev, change))


def test_a_cors_parameter_that_may_be_star_fails_the_check(dev: dict[str, Any]) -> None:
    broken = copy.deepcopy(dev)
    broken["Parameters"]["ExtraConsoleOrigins"].pop("AllowedPattern")
    assert "DataBucket: CORS takes ExtraConsoleOrigins, which may be '*'" in (
        checks.data_bucket_cors_allows_the_console_alone(broken)
    )


def test_the_function_zip_carries_nothing_of_the_console(stage: str) -> None:
    """The console's static files (app/) are the console bucket's, never the Lambda's: no app/
    folder, and no file of app/ under another name's folder either."""
    with zipfile.ZipFile(_packaged(stage, "deployment.zip")) as package:
        assert not [name for name in package.namelist() if name.startswith("app/")]
        console = ROOT / "app"
        if not console.is_dir():
            return
        files = [path for path in console.rglob("*") if path.is_file() and path.stat().st_size]
        contents = {path.name: path.read_bytes() for path in files}
        copied = [
            name
            for name in package.namelist()
            if name.rsplit("/", 1)[-1] in contents and package.read(name) == contents[name.rsplit("/", 1)[-1]]
        ]
        assert not copied


def test_the_functions_name_the_data_bucket_rather_than_refer_to_it(tmp_path: Path) -> None:
    """The data bucket's CORS names the console's distribution, which reaches the API and so the
    functions: a reference from them back to the bucket would close a loop (hence the name spelled
    out in their environment and in TenantDataRole)."""
    sam = load_yaml(_packaged("dev", "sam.yaml"))
    sam["Globals"]["Function"]["Environment"]["Variables"]["SDP_DATA_BUCKET"] = {"Ref": "DataBucket"}
    broken = tmp_path / "template.json"
    broken.write_text(json.dumps(transform(sam, "dev")))
    assert any("E3004" in error for error in lint(broken))


def test_every_checkov_skip_of_the_template_gives_its_reason(template: dict[str, Any]) -> None:
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 30, f"{name} skips {skip['id']} without a reason"
