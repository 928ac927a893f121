"""What the transformed template (out/<stage>/template.json) must hold, as checks that name each
problem. infra/tests runs them on every stage, and once on a template broken on purpose."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from infra import waf

Template = dict[str, Any]
Check = Callable[[Template], list[str]]

DATA_KEY_ARN = {"Fn::GetAtt": ["DataKey", "Arn"]}
DATA_KEY_REFS = ({"Ref": "DataKey"}, DATA_KEY_ARN)


def resources(template: Template, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, properties) of every resource of one type."""
    for name, resource in template["Resources"].items():
        if resource["Type"] == kind:
            yield name, resource.get("Properties", {})


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return _listed(document.get("Statement", []))


def role_statements(properties: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in properties.get("Policies", []):
        yield from statements(policy["PolicyDocument"])


def buckets_are_encrypted_private_and_tls_only(template: Template) -> list[str]:
    problems = []
    tls_only = {
        json.dumps(policy["Bucket"], sort_keys=True)
        for _, policy in resources(template, "AWS::S3::BucketPolicy")
        for statement in statements(policy["PolicyDocument"])
        if statement["Effect"] == "Deny" and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    }
    for name, bucket in resources(template, "AWS::S3::Bucket"):
        encryption = bucket.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])[0]
        default = encryption.get("ServerSideEncryptionByDefault", {})
        if name in S3_KEY_BUCKETS:
            if default != {"SSEAlgorithm": "AES256"}:
                problems.append(f"{name}: not encrypted with S3's keys (SSE-S3)")
        elif default.get("SSEAlgorithm") != "aws:kms" or default.get("KMSMasterKeyID") not in DATA_KEY_REFS:
            problems.append(f"{name}: not encrypted with the stage key")
        if encryption.get("BucketKeyEnabled") is not True and name not in S3_KEY_BUCKETS:
            problems.append(f"{name}: no bucket key")
        blocks = bucket.get("PublicAccessBlockConfiguration", {})
        wanted = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        if any(blocks.get(block) is not True for block in wanted):
            problems.append(f"{name}: public access not fully blocked")
        ownership = "BucketOwnerPreferred" if name in ACL_LOG_BUCKETS else "BucketOwnerEnforced"
        if bucket.get("OwnershipControls") != {"Rules": [{"ObjectOwnership": ownership}]}:
            problems.append(f"{name}: object ownership is not {ownership}")
        if json.dumps({"Ref": name}, sort_keys=True) not in tls_only:
            problems.append(f"{name}: no TLS-only bucket policy")
    for name in TENANT_WRITTEN_BUCKETS:
        if not _refuses_other_keys(template, name):
            problems.append(f"{name}: a put naming other encryption or another key is not refused")
    return problems


# The console's files, public by design, are read by CloudFront through origin access control:
# under the stage key, that key's policy would have to name the distribution, which reaches the
# functions that use the key (a cycle). So S3's own keys (SSE-S3), for that bucket alone.
S3_KEY_BUCKETS = ("ConsoleBucket",)
# CloudFront writes its standard logs through the bucket ACL it grants its log delivery account:
# ACLs stay enabled (BucketOwnerPreferred) on its log bucket alone.
ACL_LOG_BUCKETS = ("ConsoleLogBucket",)


# The buckets tenants' sessions write to: their policies refuse a write that names anything but
# the stage's key (what names nothing gets the bucket's default, the same key).
TENANT_WRITTEN_BUCKETS = ("DataBucket", "ResultsBucket")


def _refuses_other_keys(template: Template, bucket: str) -> bool:
    denied: set[str] = set()
    for _, policy in resources(template, "AWS::S3::BucketPolicy"):
        if policy["Bucket"] != {"Ref": bucket}:
            continue
        for statement in statements(policy["PolicyDocument"]):
            if statement["Effect"] != "Deny" or _listed(statement["Action"]) != ["s3:PutObject"]:
                continue
            condition = statement.get("Condition", {}).get("StringNotEqualsIfExists", {})
            if condition.get("s3:x-amz-server-side-encryption") == "aws:kms":
                denied.add("algorithm")
            if condition.get("s3:x-amz-server-side-encryption-aws-kms-key-id") == DATA_KEY_ARN:
                denied.add("key")
    return denied == {"algorithm", "key"}


def everything_at_rest_uses_the_stage_key(template: Template) -> list[str]:
    wanted = {
        "AWS::SQS::Queue": "KmsMasterKeyId",
        "AWS::Logs::LogGroup": "KmsKeyId",
        "AWS::SNS::Topic": "KmsMasterKeyId",
        "AWS::SecretsManager::Secret": "KmsKeyId",
        "AWS::CloudTrail::Trail": "KMSKeyId",
        "AWS::Lambda::Function": "KmsKeyArn",
    }
    problems = [
        f"{name}: {kind} without the stage key"
        for kind, key in wanted.items()
        for name, properties in resources(template, kind)
        if properties.get(key) not in DATA_KEY_REFS
    ]
    for name, table in resources(template, "AWS::DynamoDB::Table"):
        sse = table.get("SSESpecification", {})
        if (sse.get("SSEType"), sse.get("KMSMasterKeyId")) != ("KMS", {"Ref": "DataKey"}):
            problems.append(f"{name}: table not encrypted with the stage key")
    for name, key in resources(template, "AWS::KMS::Key"):
        if key.get("EnableKeyRotation") is not True:
            problems.append(f"{name}: key rotation off")
    return problems


def _actions(statement: dict[str, Any]) -> list[str]:
    return _listed(statement.get("Action", []))


def iam_grants_no_wildcards(template: Template) -> list[str]:
    """No `*` action or service-wide `svc:*`; no `*` resource but for X-Ray, which has none."""
    problems = []
    policies = [(name, list(role_statements(role))) for name, role in resources(template, "AWS::IAM::Role")]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        policies += [(name, statements(policy["PolicyDocument"])) for name, policy in resources(template, kind)]
    for name, granted in policies:
        for statement in granted:
            if statement["Effect"] != "Allow":
                continue
            actions = _actions(statement)
            if any(action == "*" or action.endswith(":*") for action in actions):
                problems.append(f"{name}: wildcard action {actions}")
            if "*" in _listed(statement.get("Resource", [])) and not all(a.startswith("xray:") for a in actions):
                problems.append(f"{name}: wildcard resource for {actions}")
    return problems


def _has_tag_variable(value: Any, tag: str) -> bool:
    return f"${{!aws:PrincipalTag/{tag}}}" in json.dumps(value) or f"${{aws:PrincipalTag/{tag}}}" in json.dumps(value)


def tenant_role_is_bound_to_the_session_tag(template: Template) -> list[str]:
    role = template["Resources"].get("TenantDataRole", {}).get("Properties")
    if role is None:
        return ["no TenantDataRole"]
    problems = []
    trust = statements(role["AssumeRolePolicyDocument"])
    if not any(
        statement.get("Condition", {}).get("Null", {}).get("aws:RequestTag/tenant_id") == "false" for statement in trust
    ):
        problems.append("TenantDataRole: assuming it does not require the tenant_id session tag")
    granted = [statement for statement in role_statements(role) if statement["Effect"] == "Allow"]
    for statement in granted:
        actions = _actions(statement)
        services = {action.split(":")[0] for action in actions}
        if "dynamodb" in services:
            condition = statement.get("Condition", {})
            leading = condition.get("ForAllValues:StringEquals", {}).get("dynamodb:LeadingKeys")
            if leading != ["TENANT#${aws:PrincipalTag/tenant_id}"]:
                problems.append(f"TenantDataRole: DynamoDB not limited to the tenant's partition: {leading}")
            if condition.get("Null", {}).get("dynamodb:LeadingKeys") != "false":
                problems.append("TenantDataRole: DynamoDB statement lacks the Null guard on dynamodb:LeadingKeys")
            forbidden = [a for a in actions if a in ("dynamodb:Scan",) or a.startswith("dynamodb:PartiQL")]
            if forbidden:
                problems.append(f"TenantDataRole: allows {forbidden}")
        if services & {"s3", "glue"} and not (
            _has_tag_variable(statement.get("Resource"), "tenant_id")
            or _has_tag_variable(statement.get("Resource"), "tenant_database")
            or _has_tag_variable(statement.get("Condition"), "tenant_id")
        ):
            problems.append(f"TenantDataRole: {sorted(services)} statement not bound to the tenant's tag")
    return problems


def functions_have_their_own_least_privilege_roles(template: Template) -> list[str]:
    problems = []
    functions = resources(template, "AWS::Lambda::Function")
    roles = [json.dumps(function.get("Role"), sort_keys=True) for _, function in functions]
    if len(roles) != len(set(roles)):
        problems.append("two functions share a role")
    api = template["Resources"].get("ApiFunctionRole", {}).get("Properties", {})
    for statement in role_statements(api):
        if any(action.split(":")[0] in ("s3", "glue", "athena") for action in _actions(statement)):
            problems.append(f"ApiFunctionRole: reaches tenant data itself: {_actions(statement)}")
    return problems


def cognito_lets_clients_write_nothing_that_authorizes(template: Template) -> list[str]:
    problems = []
    for name, pool in resources(template, "AWS::Cognito::UserPool"):
        custom = [attribute["Name"] for attribute in pool.get("Schema", []) if attribute["Name"].startswith("custom:")]
        if custom or any(attribute.get("Name") not in ("email",) for attribute in pool.get("Schema", [])):
            problems.append(f"{name}: attributes beyond e-mail: {pool.get('Schema')}")
        update = pool.get("UserAttributeUpdateSettings", {}).get("AttributesRequireVerificationBeforeUpdate")
        if update != ["email"]:
            problems.append(f"{name}: a changed e-mail takes effect before it is verified")
        if pool.get("DeletionProtection") != {"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]}:
            problems.append(f"{name}: deletion protection is not on in prod")
    for name, client in resources(template, "AWS::Cognito::UserPoolClient"):
        if set(client.get("WriteAttributes", ["*"])) - {"email"}:
            problems.append(f"{name}: clients may write {client.get('WriteAttributes')}")
        if client.get("GenerateSecret") is not False:
            problems.append(f"{name}: a public client with a secret")
    return problems


# Requests of this API and what the web ACL must do with them: None, let through; else the
# managed rule that must block it. The largest legitimate bodies pass (a 262,144-byte SQL text,
# Athena's limit; a 10,000-part complete; a data file that happens to hold markup); the rules
# still block what they are for, everywhere else and on those routes too.
COMPLETE = "/prod/uploads/01JABCDEFGHJKMNPQRSTVWXYZ0/complete"
WAF_SAMPLES: list[tuple[str, waf.Request, str | None]] = [
    ("the longest SQL Athena takes", waf.Request("POST", "/prod/queries", "SELECT 1 -- " + "x" * 262_132), None),
    ("SQL whose text holds markup", waf.Request("POST", "/prod/queries", "SELECT '<script>' AS html"), None),
    (
        "a direct upload of a data file holding markup",
        waf.Request("POST", "/prod/files", "name,html\nx,<script>\n", body_bytes=4 * 1024 * 1024),
        None,
    ),
    ("a 10,000-part complete", waf.Request("POST", COMPLETE, '{"parts": [', body_bytes=10_000 * 62), None),
    ("a sign-up", waf.Request("POST", "/prod/auth/signup", '{"email": "a@example.com"}'), None),
    (
        "an oversized invitation",
        waf.Request("POST", "/prod/tenant/members", "{}", body_bytes=9_000),
        "SizeRestrictions_BODY",
    ),
    (
        "markup in a sign-up",
        waf.Request("POST", "/prod/auth/signup", '{"email": "<script>"}'),
        "CrossSiteScripting_BODY",
    ),
    ("markup in a complete", waf.Request("POST", COMPLETE, '{"parts": "<script>"}'), "CrossSiteScripting_BODY"),
    ("no User-Agent on a read", waf.Request("GET", "/prod/files", headers={}), "NoUserAgent_HEADER"),
    ("no User-Agent on a query", waf.Request("POST", "/prod/queries", "SELECT 1", headers={}), "NoUserAgent_HEADER"),
    ("no User-Agent on a complete", waf.Request("POST", COMPLETE, "{}", headers={}), "NoUserAgent_HEADER"),
    ("Log4j in a sign-up", waf.Request("POST", "/prod/auth/signup", '{"email": "${jndi:ldap://x}"}'), "Log4JRCE_BODY"),
]


def waf_guards_the_api_without_judging_sql_or_file_bodies(template: Template) -> list[str]:
    acls = dict(resources(template, "AWS::WAFv2::WebACL"))
    if len(acls) != 1:
        return [f"expected one web ACL, found {sorted(acls)}"]
    ((acl_name, acl),) = acls.items()
    problems = []
    associations = [a for _, a in resources(template, "AWS::WAFv2::WebACLAssociation")]
    if not any(
        a["WebACLArn"] == {"Fn::GetAtt": [acl_name, "Arn"]} and "/restapis/${RestAPI}/stages/" in json.dumps(a)
        for a in associations
    ):
        problems.append("the web ACL is not associated with the API's stage")
    rules = acl["Rules"]
    if not any("RateBasedStatement" in rule["Statement"] for rule in rules):
        problems.append("no per-IP rate rule")
    groups = {rule["Statement"].get("ManagedRuleGroupStatement", {}).get("Name") for rule in rules}
    for label, request, expected in WAF_SAMPLES:
        blocked = waf.blocked_by(acl, request)
        right = blocked is None if expected is None else (blocked or "").endswith(f"/{expected}")
        if not right:
            wanted = f"blocked by {expected}" if expected else "let through"
            problems.append(
                f"{label} ({request.method} {request.path}): should be {wanted}, is {blocked or 'let through'}"
            )
    if "AWSManagedRulesAmazonIpReputationList" not in groups:
        problems.append("no IP reputation rules")
    return problems


def _alarmed(template: Template, namespace: str, metric: str, dimension: dict[str, Any]) -> bool:
    for _, alarm in resources(template, "AWS::CloudWatch::Alarm"):
        found = [(alarm.get("Namespace"), alarm.get("MetricName"), alarm.get("Dimensions", []))]
        metrics = [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        found += [(m["Namespace"], m["MetricName"], m.get("Dimensions", [])) for m in metrics]
        for space, name, dimensions in found:
            if (space, name) == (namespace, metric) and dimension in dimensions and alarm.get("AlarmActions"):
                return True
    return False


def release_hook(properties: dict[str, Any]) -> bool:
    """A CodeDeploy hook (CodeDeploy may invoke only functions named CodeDeployHook_*): it runs
    during a release alone, and a hook that fails fails the release, so it has no alarms or
    deployment group of its own."""
    return "CodeDeployHook_" in json.dumps(properties.get("FunctionName"))


def alarms_cover_every_function_and_the_pipeline(template: Template) -> list[str]:
    problems = []
    for name, function in resources(template, "AWS::Lambda::Function"):
        if release_hook(function):
            continue
        for metric in ("Errors", "Throttles", "Duration"):
            if not _alarmed(template, "AWS/Lambda", metric, {"Name": "FunctionName", "Value": {"Ref": name}}):
                problems.append(f"{name}: no {metric} alarm")
    api = {"Name": "ApiName", "Value": {"Fn::Sub": "sdp-${Stage}"}}
    dead_letters = {"Name": "QueueName", "Value": {"Fn::GetAtt": ["IngestDeadLetterQueue", "QueueName"]}}
    ingest_queue = {"Name": "QueueName", "Value": {"Fn::GetAtt": ["IngestQueue", "QueueName"]}}
    wanted = [
        ("AWS/ApiGateway", "5XXError", api),
        ("AWS/ApiGateway", "Latency", api),
        ("ServerlessDataPlatform", "IngestDeadLettered", {"Name": "service", "Value": "sdp"}),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", dead_letters),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", ingest_queue),
        ("AWS/DynamoDB", "ReadThrottleEvents", {"Name": "TableName", "Value": {"Ref": "Table"}}),
        ("AWS/DynamoDB", "WriteThrottleEvents", {"Name": "TableName", "Value": {"Ref": "Table"}}),
        ("AWS/Athena", "TotalExecutionTime", {"Name": "QueryState", "Value": "FAILED"}),
    ]
    problems += [f"no alarm on {ns} {metric}" for ns, metric, dim in wanted if not _alarmed(template, ns, metric, dim)]
    return problems


# The alarm each function's release must be rolled back by, besides Lambda's own Errors.
RELEASE_ALARM_METRICS = {
    "APIHandler": ("ServerlessDataPlatform", "ServerErrors"),  # the middleware turns exceptions into 500s
    "Ingest": ("ServerlessDataPlatform", "IngestFailures"),  # failed deliveries, reported to the queue
    "IngestDeadLetters": ("AWS/Lambda", "Errors"),
}


def _watches_the_new_version(alarm: dict[str, Any], function: str) -> bool:
    """Whether the alarm's figures are the new version's alone: a version dimension whose value is
    the number of the version this release publishes."""
    for dimension in alarm.get("Dimensions", []):
        value = dimension.get("Value")
        if dimension.get("Name") in ("function_version", "ExecutedVersion") and isinstance(value, dict):
            target = value.get("Fn::GetAtt", [None, None])
            if str(target[0]).startswith(f"{function}Version") and target[1] == "Version":
                return True
    return False


def releases_are_canaries_rolled_back_by_alarms(template: Template) -> list[str]:
    problems = []
    groups = dict(resources(template, "AWS::CodeDeploy::DeploymentGroup"))
    alarms = dict(resources(template, "AWS::CloudWatch::Alarm"))
    for name, function in resources(template, "AWS::Lambda::Function"):
        if release_hook(function):
            continue
        group = groups.get(f"{name}DeploymentGroup")
        if group is None:
            problems.append(f"{name}: no deployment group")
            continue
        watched = [
            alarms.get(alarm["Name"].get("Ref"), {}) for alarm in group.get("AlarmConfiguration", {}).get("Alarms", [])
        ]
        if not watched:
            problems.append(f"{name}: no alarm rolls a deployment back")
        if not all(_watches_the_new_version(alarm, name) for alarm in watched):
            problems.append(f"{name}: an alarm that rolls a release back mixes the old version's figures in")
        wanted = RELEASE_ALARM_METRICS.get(name)
        if wanted and wanted not in [(alarm.get("Namespace"), alarm.get("MetricName")) for alarm in watched]:
            problems.append(f"{name}: no {wanted[1]} alarm rolls a release back")
        if "DEPLOYMENT_STOP_ON_ALARM" not in group.get("AutoRollbackConfiguration", {}).get("Events", []):
            problems.append(f"{name}: an alarm does not roll back")
        if "Canary10Percent5Minutes" not in json.dumps(group.get("DeploymentConfigName")):
            problems.append(f"{name}: not a canary deployment")
    hooks = {name for name, function in resources(template, "AWS::Lambda::Function") if release_hook(function)}
    api_alias = template["Resources"].get("APIHandlerAliaslive", {})
    update = api_alias.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate", {})
    if update.get("BeforeAllowTrafficHook", {}).get("Ref") not in hooks:
        problems.append("APIHandler: no release check runs before traffic shifts to a new version")
    return problems


def logs_are_kept_and_traced(template: Template) -> list[str]:
    groups = resources(template, "AWS::Logs::LogGroup")
    problems = [f"{name}: no retention" for name, group in groups if "RetentionInDays" not in group]
    for name, function in resources(template, "AWS::Lambda::Function"):
        if "LogGroup" not in function.get("LoggingConfig", {}):
            problems.append(f"{name}: logs to no log group of ours")
        if function.get("TracingConfig") != {"Mode": "Active"}:
            problems.append(f"{name}: not traced")
    for name, stage in resources(template, "AWS::ApiGateway::Stage"):
        if stage.get("TracingEnabled") is not True or "AccessLogSetting" not in stage:
            problems.append(f"{name}: API stage without tracing or access logs")
    for name, trail in resources(template, "AWS::CloudTrail::Trail"):
        if not (trail.get("IsMultiRegionTrail") and trail.get("EnableLogFileValidation")):
            problems.append(f"{name}: not multi-region with log file validation")
        data = [r for s in trail.get("EventSelectors", []) for r in s.get("DataResources", [])]
        if not any(r["Type"] == "AWS::S3::Object" and "DataBucket.Arn" in json.dumps(r["Values"]) for r in data):
            problems.append(f"{name}: no S3 data events on the data bucket")
    return problems


# --- The web console (docs/security.md, "The web console") ---------------------------------------

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # Managed-AllViewerExceptHostHeader
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
# The console's CSP as templated: only ${DataBucketOrigins} varies (the data bucket's S3 origins in
# AWS, the local S3's origin on the local platform).
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self' ${DataBucketOrigins}; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The hosts of the data bucket's presigned URLs (virtual-hosted, SigV4), global and regional.
DATA_BUCKET_ORIGINS = (
    "https://sdp-${Stage}-data-${AWS::AccountId}-${AWS::Region}.s3.${AWS::URLSuffix} "
    "https://sdp-${Stage}-data-${AWS::AccountId}-${AWS::Region}.s3.${AWS::Region}.${AWS::URLSuffix}"
)
# Paths the API serves besides those of its current routes: routes on their way, which the
# distribution already sends to the API.
COMING_API_PATHS = ("/saved-queries", "/saved-queries/01J", "/tenant", "/tenant/usage")
# Paths that are the console's files.
CONSOLE_PATHS = ("/", "/index.html", "/config.json", "/app.js", "/styles/console.css", "/favicon.svg")


def console_csp(template: Template) -> tuple[str, dict[str, Any]]:
    """The console's Content-Security-Policy as templated (`Fn::Sub` of one string) and its
    variables: ConsoleHeadersPolicy, ResponseHeadersPolicyConfig.SecurityHeadersConfig.
    ContentSecurityPolicy.ContentSecurityPolicy."""
    policy = template["Resources"]["ConsoleHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    value = policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    substituted = value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value
    if isinstance(substituted, list):
        return substituted[0], substituted[1]
    return substituted, {}


def _directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in csp.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


def console_sends_its_security_headers(template: Template) -> list[str]:
    policies = dict(resources(template, "AWS::CloudFront::ResponseHeadersPolicy"))
    if "ConsoleHeadersPolicy" not in policies:
        return ["no ConsoleHeadersPolicy"]
    headers = policies["ConsoleHeadersPolicy"]["ResponseHeadersPolicyConfig"].get("SecurityHeadersConfig", {})
    problems = []
    csp, variables = console_csp(template)
    directives = _directives(csp)
    if directives.get("frame-ancestors") != ["'none'"]:
        problems.append(f"CSP: frame-ancestors is not 'none': {directives.get('frame-ancestors')}")
    if directives.get("default-src") != ["'none'"] or directives.get("script-src") != ["'self'"]:
        problems.append("CSP: default-src is not 'none' or script-src not 'self' alone")
    unsafe = [source for sources in directives.values() for source in sources if "unsafe" in source or source == "*"]
    if unsafe:
        problems.append(f"CSP: allows {unsafe}")
    if "${DataBucketOrigins}" not in directives.get("connect-src", []):
        problems.append("CSP: connect-src does not name the data bucket's origins")
    if json.dumps(variables.get("DataBucketOrigins")) != json.dumps({"Fn::Sub": DATA_BUCKET_ORIGINS}):
        problems.append(f"CSP: the data bucket's origins are not {DATA_BUCKET_ORIGINS}")
    if headers.get("ContentSecurityPolicy", {}).get("Override") is not True:
        problems.append("CSP: does not override the origin's")
    hsts = headers.get("StrictTransportSecurity", {})
    if not (
        hsts.get("AccessControlMaxAgeSec", 0) >= 63_072_000
        and hsts.get("IncludeSubdomains") is True
        and hsts.get("Preload") is True
        and hsts.get("Override") is True
    ):
        problems.append(f"HSTS: not two years with subdomains and preload: {hsts}")
    if headers.get("ContentTypeOptions", {}).get("Override") is not True:
        problems.append("X-Content-Type-Options: nosniff is not sent")
    if headers.get("FrameOptions") != {"FrameOption": "DENY", "Override": True}:
        problems.append(f"X-Frame-Options: not DENY: {headers.get('FrameOptions')}")
    if headers.get("ReferrerPolicy") != {"ReferrerPolicy": "no-referrer", "Override": True}:
        problems.append(f"Referrer-Policy: not no-referrer: {headers.get('ReferrerPolicy')}")
    for name, distribution in resources(template, "AWS::CloudFront::Distribution"):
        config = distribution["DistributionConfig"]
        for behavior in [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]:
            where = f"{name} {behavior.get('PathPattern', 'default')}"
            if behavior.get("ViewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
                problems.append(f"{where}: answers plain HTTP")
            if behavior.get("ResponseHeadersPolicyId") != {"Ref": "ConsoleHeadersPolicy"}:
                problems.append(f"{where}: without the console's security headers")
        if config.get("DefaultRootObject") != "index.html":
            problems.append(f"{name}: / is not index.html")
        if not config.get("Logging", {}).get("Bucket"):
            problems.append(f"{name}: no access logs")
    return problems


def _origin_of(config: dict[str, Any], path: str) -> str:
    """The origin CloudFront sends `path` to: the first behavior whose pattern matches, in order
    (`*` matches any characters, `/` included; case-sensitive), else the default."""
    for behavior in config.get("CacheBehaviors", []):
        if fnmatch.fnmatchcase(path, behavior["PathPattern"]):
            return behavior["TargetOriginId"]
    return config["DefaultCacheBehavior"]["TargetOriginId"]


def _api_paths(template: Template) -> list[str]:
    """A concrete path for each of the REST API's routes ({file_id} becomes a sample id)."""
    paths = template["Resources"]["RestAPI"]["Properties"]["Body"]["paths"]
    return [re.sub(r"\{[^}]+\}", "01JABCDEFGHJKMNPQRSTVWXYZ0", path) for path in paths]


def console_and_api_share_one_origin(template: Template) -> list[str]:
    distributions = dict(resources(template, "AWS::CloudFront::Distribution"))
    if "ConsoleDistribution" not in distributions:
        return ["no ConsoleDistribution"]
    config = distributions["ConsoleDistribution"]["DistributionConfig"]
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    problems = []
    api = [
        origin_id
        for origin_id, origin in origins.items()
        if "${RestAPI}.execute-api." in json.dumps(origin["DomainName"])
        and origin.get("CustomOriginConfig", {}).get("OriginProtocolPolicy") == "https-only"
        and "OriginPath" in origin
    ]
    bucket = {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    console = [origin_id for origin_id, origin in origins.items() if origin["DomainName"] == bucket]
    if len(api) != 1 or len(console) != 1:
        return [f"ConsoleDistribution: not one API origin (HTTPS, the stage's path) and one console origin: {origins}"]
    for path in [*_api_paths(template), *COMING_API_PATHS]:
        if _origin_of(config, path) != api[0]:
            problems.append(f"ConsoleDistribution: {path} is not routed to the API")
    for path in CONSOLE_PATHS:
        if _origin_of(config, path) != console[0]:
            problems.append(f"ConsoleDistribution: {path} is not the console's file")
    for behavior in config.get("CacheBehaviors", []):
        if behavior["TargetOriginId"] != api[0]:
            continue
        pattern = behavior["PathPattern"]
        if behavior.get("CachePolicyId") != CACHING_DISABLED:
            problems.append(f"ConsoleDistribution {pattern}: API answers may be cached")
        if behavior.get("OriginRequestPolicyId") != ALL_VIEWER_EXCEPT_HOST_HEADER:
            problems.append(f"ConsoleDistribution {pattern}: the API does not get the viewer's headers (Authorization)")
        if set(behavior.get("AllowedMethods", [])) != ALL_METHODS:
            problems.append(f"ConsoleDistribution {pattern}: not every method reaches the API")
    if config.get("CustomErrorResponses"):
        problems.append("ConsoleDistribution: custom error responses would replace the API's errors")
    return problems


def console_bucket_is_read_by_its_distribution_alone(template: Template) -> list[str]:
    bucket = template["Resources"].get("ConsoleBucket", {}).get("Properties")
    if bucket is None:
        return ["no ConsoleBucket"]
    problems = []
    config = template["Resources"]["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = [o for o in config["Origins"] if "ConsoleBucket" in json.dumps(o["DomainName"])]
    control = origin.get("OriginAccessControlId", {}).get("Fn::GetAtt", [None])[0]
    controls = dict(resources(template, "AWS::CloudFront::OriginAccessControl"))
    if control not in controls:
        problems.append("ConsoleDistribution: the console origin has no origin access control")
    else:
        settings = controls[control]["OriginAccessControlConfig"]
        signing = (settings["OriginAccessControlOriginType"], settings["SigningBehavior"], settings["SigningProtocol"])
        if signing != ("s3", "always", "sigv4"):
            problems.append(f"{control}: does not always sign with SigV4 for S3: {signing}")
    if origin.get("S3OriginConfig", {}).get("OriginAccessIdentity", "") != "":
        problems.append("ConsoleDistribution: the console origin uses a legacy origin access identity")
    if "WebsiteConfiguration" in bucket:
        problems.append("ConsoleBucket: a public website endpoint")
    for _, policy in resources(template, "AWS::S3::BucketPolicy"):
        if policy["Bucket"] != {"Ref": "ConsoleBucket"}:
            continue
        for statement in statements(policy["PolicyDocument"]):
            if statement["Effect"] != "Allow":
                continue
            condition = statement.get("Condition", {}).get("StringEquals", {}).get("AWS:SourceArn", {})
            if (
                statement.get("Principal") != {"Service": "cloudfront.amazonaws.com"}
                or _listed(statement["Action"]) != ["s3:GetObject"]
                or "distribution/${ConsoleDistribution}" not in json.dumps(condition)
            ):
                problems.append(f"ConsoleBucket: its policy lets more than ConsoleDistribution read: {statement}")
    return problems


def data_bucket_cors_allows_the_console_alone(template: Template) -> list[str]:
    problems = []
    rules = template["Resources"]["DataBucket"]["Properties"].get("CorsConfiguration", {}).get("CorsRules", [])
    parameters = template.get("Parameters", {})
    for rule in rules:
        origins = json.dumps(rule["AllowedOrigins"])
        if '"*"' in origins or "*" in origins.replace("${", ""):
            problems.append(f"DataBucket: CORS allows any origin: {rule['AllowedOrigins']}")
        if "https://${ConsoleDistribution.DomainName}" not in origins:
            problems.append("DataBucket: CORS does not allow the console's origin")
        for parameter in re.findall(r'"Ref": "([A-Za-z0-9]+)"', origins):
            declared = parameters.get(parameter, {})
            if "*" in str(declared.get("Default", "")) or "AllowedPattern" not in declared:
                problems.append(f"DataBucket: CORS takes {parameter}, which may be '*'")
    return problems


CHECKS: list[Check] = [
    buckets_are_encrypted_private_and_tls_only,
    everything_at_rest_uses_the_stage_key,
    iam_grants_no_wildcards,
    tenant_role_is_bound_to_the_session_tag,
    functions_have_their_own_least_privilege_roles,
    cognito_lets_clients_write_nothing_that_authorizes,
    waf_guards_the_api_without_judging_sql_or_file_bodies,
    alarms_cover_every_function_and_the_pipeline,
    releases_are_canaries_rolled_back_by_alarms,
    logs_are_kept_and_traced,
    console_sends_its_security_headers,
    console_and_api_share_one_origin,
    console_bucket_is_read_by_its_distribution_alone,
    data_bucket_cors_allows_the_console_alone,
]
