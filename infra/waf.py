"""What the stage's web ACL does to a request, evaluated from the template: its scope-down
statements as WAF evaluates them, and the managed rules whose verdict a request's method, path,
headers and body size decide.

Only the managed rules that legitimate requests of this API could trip are modelled (WAF's
documented conditions): the common rule set's 8 KB body limit, its missing User-Agent rule and its
body XSS rule, and the known-bad-inputs set's Log4j body rule. That is enough to show where each
instance of a rule group applies and which of its rules it counts instead of blocking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What AWS documents of each modelled rule: the body WAF inspects is the first 8 KB (API Gateway).
BODY_LIMIT_BYTES = 8 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as WAF sees it: with the stage's prefix (/prod/queries)
    body: str = ""
    body_bytes: int | None = None  # the body's size where `body` is only its start
    headers: dict[str, str] = field(default_factory=lambda: {"user-agent": "sdp-client/1.0"})

    @property
    def size(self) -> int:
        return self.body_bytes if self.body_bytes is not None else len(self.body.encode())


MANAGED_RULES: dict[str, dict[str, Callable[[Request], bool]]] = {
    "AWSManagedRulesCommonRuleSet": {
        "SizeRestrictions_BODY": lambda request: request.size > BODY_LIMIT_BYTES,
        "NoUserAgent_HEADER": lambda request: not request.headers.get("user-agent"),
        "CrossSiteScripting_BODY": lambda request: "<script" in request.body[:BODY_LIMIT_BYTES].lower(),
    },
    "AWSManagedRulesKnownBadInputsRuleSet": {
        "Log4JRCE_BODY": lambda request: "${jndi:" in request.body[:BODY_LIMIT_BYTES].lower(),
    },
}


def matches(statement: dict[str, Any], request: Request) -> bool:
    """Whether a WAF statement (byte matches on the method, path or a header; and, or, not) matches."""
    if "AndStatement" in statement:
        return all(matches(inner, request) for inner in statement["AndStatement"]["Statements"])
    if "OrStatement" in statement:
        return any(matches(inner, request) for inner in statement["OrStatement"]["Statements"])
    if "NotStatement" in statement:
        return not matches(statement["NotStatement"]["Statement"], request)
    byte_match = statement["ByteMatchStatement"]
    target = byte_match["FieldToMatch"]
    if "Method" in target:
        value = request.method
    elif "UriPath" in target:
        value = request.path
    elif "SingleHeader" in target:
        value = request.headers.get(target["SingleHeader"]["Name"].lower(), "")
    else:
        raise ValueError(f"no model of matching on {sorted(target)}")
    if any(transformation["Type"] != "NONE" for transformation in byte_match["TextTransformations"]):
        raise ValueError("no model of text transformations")
    wanted, constraint = byte_match["SearchString"], byte_match["PositionalConstraint"]
    return {
        "EXACTLY": value == wanted,
        "STARTS_WITH": value.startswith(wanted),
        "ENDS_WITH": value.endswith(wanted),
        "CONTAINS": wanted in value,
    }[constraint]


def blocked_by(acl: dict[str, Any], request: Request) -> str | None:
    """The first rule (`rule/managed rule`) that blocks the request, in priority order; None if
    the request passes every modelled rule."""
    for rule in sorted(acl["Rules"], key=lambda rule: rule["Priority"]):
        group = rule["Statement"].get("ManagedRuleGroupStatement")
        if group is None:
            continue  # the rate rule and any other: not decided by one request
        scope = group.get("ScopeDownStatement")
        if scope is not None and not matches(scope, request):
            continue
        counted = {o["Name"] for o in group.get("RuleActionOverrides", []) if "Count" in o["ActionToUse"]}
        for name, trips in MANAGED_RULES.get(group["Name"], {}).items():
            if name not in counted and trips(request):
                return f"{rule['Name']}/{name}"
    return None
