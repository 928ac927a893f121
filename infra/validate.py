"""`make validate`: every offline check of each packaged stage (out/<stage>/sam.yaml), in .venv-infra.

1. `sam validate`, offline (the SAM specification only);
2. the SAM transform applied here with aws-sam-translator, as CloudFormation would, to
   out/<stage>/template.json: a cycle or a bad reference among the generated resources fails here;
3. cfn-lint on the transformed template: no errors;
4. checkov on the transformed template (SAM's generated resources included): no failed check; each
   skip names its reason in the resource's Metadata, which the transform passes on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "stage", "prod")
REGION = "us-east-1"
OFFLINE = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "SAM_CLI_TELEMETRY": "0",
    "BC_SKIP_MAPPING": "TRUE",  # checkov: no download of its mapping data
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
}


class NoManagedPolicies:
    """The transform's managed-policy lookup, offline: the template names managed policies by ARN."""

    def load(self) -> dict[str, str]:
        return {}


def load_yaml(path: Path) -> dict[str, Any]:
    """A packaged template: chalice writes intrinsics in their long form, plain YAML."""
    import yaml

    return yaml.safe_load(path.read_text())


def transform(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of `template`, offline."""
    from samtranslator.translator.transform import transform as sam_transform

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    uploaded = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}
    for name, resource in template["Resources"].items():
        if resource["Type"] in uploaded:
            # Where `sam deploy` (or `sam package`) puts the zip it uploads.
            resource["Properties"][uploaded[resource["Type"]]] = f"s3://sdp-{stage}-artifacts/{name}.zip"
    return sam_transform(template, {"Stage": stage}, NoManagedPolicies(), passthrough_metadata=True)


def lint(path: Path) -> list[str]:
    """cfn-lint's errors (not warnings or notes) for a CloudFormation template file."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(path, config=ManualArgs(regions=[REGION]))
    return [str(match) for match in matches if match.rule.id.startswith("E")]


def checkov(path: Path) -> tuple[int, int, list[str]]:
    """checkov's passed and failed counts and the failures, for a CloudFormation or SAM file."""
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "checkov"),
            "--file",
            str(path),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        env=os.environ | OFFLINE,
        check=False,
    )
    report = json.loads(completed.stdout or "{}")
    summary = report.get("summary", {})
    failures = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    return summary.get("passed", 0), summary.get("failed", 0), failures


def sam_validate(path: Path) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "sam"), "validate", "--template", str(path), "--region", REGION],
        env=os.environ | OFFLINE,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def validate(stage: str, out: Path) -> list[str]:
    """The problems found in one packaged stage (none: it passed)."""
    folder = out / stage
    sam = folder / "sam.yaml"
    if not sam.exists():
        return [f"{sam} is missing: run `make package STAGE={stage}` first"]
    sam_validate(sam)
    transformed = folder / "template.json"
    transformed.write_text(json.dumps(transform(load_yaml(sam), stage), indent=1, sort_keys=True))
    problems = [f"cfn-lint: {error}" for error in lint(transformed)]
    passed, failed, failures = checkov(transformed)
    problems += [f"checkov: {failure}" for failure in failures]
    if not passed and not failed:
        problems.append("checkov ran no check")
    lint_errors = len(problems) - len(failures)
    print(f"{stage}: sam validate and transform ok; cfn-lint {lint_errors} errors; checkov {passed}/{passed + failed}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.validate", description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", default=list(STAGES))
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    options = parser.parse_args(argv)
    problems = [f"{stage}: {problem}" for stage in options.stages for problem in validate(stage, options.out)]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
