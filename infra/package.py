"""`make package STAGE=…`: the deployable SAM template and Lambda zip of one stage, in out/<stage>/.

`chalice package --merge-template template.yaml` builds both, from a staging copy of the app in
which the dependencies are already vendored for Lambda's runtime:

- The functions run on python3.12 (Amazon Linux 2023). DuckDB's wheels need glibc 2.27 or newer,
  which the python3.11 runtime (Amazon Linux 2, glibc 2.26) lacks, and chalice would only fetch
  wheels for the Python it runs on. So requirements.txt is installed here for CPython 3.12 on
  manylinux x86_64, once per requirements file (out/vendor/), and chalice gets an empty one.
- DuckDB (69 MB) goes into a layer of its own, duckdb-layer.zip, which only the ingest function
  takes: the API function never runs it in AWS (Athena does its queries), and starts faster
  without it.
- What a merge cannot express is then set on the template chalice wrote (`finish_template`): API
  Gateway invokes the API function's alias (the one canary deployments shift), its Cognito
  authorizer names the stage's user pool, and every request body reaches the function as bytes.
- Both zips carry their modules compiled by a Python 3.12 (`lambda_python`), when one is found:
  Lambda's code folder is read-only, so without them every cold start compiles what it imports
  (about 530 ms of the API function's). They are hash-based and never checked against their
  source (`unchecked-hash`): a zip's files never change, and the times a zip keeps would not
  match those recorded in time-stamped compiled files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "stage", "prod")
LAMBDA_PYTHON = "3.12"
LAMBDA_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
APP_FILES = ("app.py", "chalicelib", ".chalice/config.json")
LAYER_ZIP = "duckdb-layer.zip"  # template.yaml's DuckDbLayer names it
# chalice imports the app to package it: bytecode it wrote (for this Python) would go into the zip.
CHALICE_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "PYTHONDONTWRITEBYTECODE": "1",
}


LAYER_DISTRIBUTIONS = ("duckdb",)


def vendored(out: Path, python: str | None, requirements: Path = ROOT / "requirements.txt") -> tuple[Path, Path]:
    """The runtime requirements installed for Lambda's Python (and compiled by `python`, if any),
    reused while the file is unchanged: the folder of what every function takes, and the layer's
    folder (its `python/` inside)."""
    compiled = b"compiled" if python else b"sources"
    digest = hashlib.sha256(requirements.read_bytes() + LAMBDA_PYTHON.encode() + compiled).hexdigest()[:16]
    folder = out / "vendor" / digest / "functions"
    layer = out / "vendor" / digest / "layer"
    if (folder / ".complete").exists():
        return folder, layer
    shutil.rmtree(folder.parent, ignore_errors=True)
    platforms = [argument for platform in LAMBDA_PLATFORMS for argument in ("--platform", platform)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",  # this Python's bytecode is no use to Lambda's; add_compiled compiles for 3.12
            "--target",
            str(folder),
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON,
            "--only-binary=:all:",
            *platforms,
            "-r",
            str(requirements),
        ],
        check=True,
    )
    for distribution in LAYER_DISTRIBUTIONS:
        _move_distribution(folder, distribution, layer / "python")
    if python is not None:
        compile_folder(folder, python)
        compile_folder(layer, python)
    (folder / ".complete").touch()
    return folder, layer


def _move_distribution(site: Path, name: str, target: Path) -> None:
    """Move an installed distribution's files (as its RECORD lists them) from `site` to `target`."""
    (record,) = site.glob(f"{name}-*.dist-info/RECORD")
    tops = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines() if line}
    target.mkdir(parents=True, exist_ok=True)
    for top in sorted(tops - {"..", ""}):
        if (site / top).exists():
            shutil.move(str(site / top), str(target / top))


def lambda_python() -> str | None:
    """A Python of Lambda's version to compile the packages with: LAMBDA_PYTHON, or python3.12 on
    the PATH, or one pyenv installed (build machines often carry several that way)."""
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), f"python{LAMBDA_PYTHON}"]
    if pyenv := shutil.which("pyenv"):
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        if root:
            candidates += sorted(str(path) for path in Path(root, "versions").glob(f"{LAMBDA_PYTHON}*/bin/python3"))
    for candidate in candidates:
        executable = shutil.which(candidate) if candidate else None
        if executable is None:
            continue
        version = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if version.returncode == 0 and version.stdout.strip() == LAMBDA_PYTHON:
            return executable
    return None


def compile_folder(folder: Path, python: str) -> None:
    """Compile every module under `folder` for `python`, beside its source (`__pycache__`)."""
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def add_compiled(archive: Path, python: str, prefixes: tuple[str, ...]) -> None:
    """Add to a zip the modules compiled for `python` of its files under these prefixes (the
    vendored dependencies come compiled already)."""
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(archive) as package:
            package.extractall(scratch, [name for name in package.namelist() if name.startswith(prefixes)])
        compile_folder(Path(scratch), python)
        with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_DEFLATED) as package:
            for compiled in sorted(Path(scratch).rglob("*.pyc")):
                package.write(compiled, compiled.relative_to(scratch))


def zip_folder(folder: Path, archive: Path) -> None:
    """A zip of everything under `folder`, paths relative to it."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as written:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                written.write(path, path.relative_to(folder))


def stage_app(build: Path, vendor: Path | None) -> None:
    """A copy of the app for chalice to package: its code, config, an empty requirements file
    and the vendored dependencies."""
    shutil.rmtree(build, ignore_errors=True)
    (build / ".chalice").mkdir(parents=True)
    for name in APP_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, build / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, build / name)
    (build / "requirements.txt").write_text("# vendored: see infra/package.py\n")
    if vendor is not None:
        shutil.copytree(vendor, build / "vendor", ignore=shutil.ignore_patterns(".complete", "bin"))


def finish_template(template: dict[str, Any]) -> dict[str, Any]:
    """Set what `--merge-template` cannot: values inside the API's generated OpenAPI document."""
    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = definition["securityDefinitions"]["CognitoUserPool"]["x-amazon-apigateway-authorizer"]
    authorizer["providerARNs"] = [{"Fn::GetAtt": ["UserPool", "Arn"]}]
    # Bodies reach the function base64-encoded and are decoded there, byte for byte: a Latin-1 CSV
    # posted to /files must not be re-encoded as text on the way.
    definition["x-amazon-apigateway-binary-media-types"] = ["*/*"]
    for operations in definition["paths"].values():
        for operation in operations.values():
            integration = operation.get("x-amazon-apigateway-integration", {})
            uri = integration.get("uri", {})
            if isinstance(uri, dict) and "Fn::Sub" in uri:
                uri["Fn::Sub"] = uri["Fn::Sub"].replace("${APIHandler.Arn}", "${APIHandler.Alias}")
    return template


def package(stage: str, out: Path, *, with_dependencies: bool = True, python: str | None = None) -> Path:
    """Build out/<stage>/ (sam.yaml and deployment.zip); the folder. `python`: a Python of
    Lambda's version to compile the zips' modules with (none: they are left to compile at run time)."""
    import yaml

    if stage not in STAGES:
        raise SystemExit(f"STAGE must be one of {', '.join(STAGES)}, not {stage!r}")
    target = out / stage
    build = out / "build" / stage
    functions, layer = vendored(out, python) if with_dependencies else (None, None)
    stage_app(build, functions)
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "chalice"),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(ROOT / "template.yaml"),
            str(target.resolve()),
        ],
        cwd=build,
        env=os.environ | CHALICE_ENVIRONMENT,
        check=True,
    )
    sam = target / "sam.yaml"
    template = finish_template(yaml.safe_load(sam.read_text()))
    sam.write_text(yaml.safe_dump(template, sort_keys=False, allow_unicode=True))
    if python is not None:  # what chalice added: the app, and chalice's own runtime module
        add_compiled(target / "deployment.zip", python, ("app.py", "chalicelib/", "chalice/"))
    if layer is not None:
        zip_folder(layer, target / LAYER_ZIP)
    else:  # the template names the layer's zip; without dependencies it is empty
        zipfile.ZipFile(target / LAYER_ZIP, "w").close()
    (target / "parameters.json").write_text(json.dumps({"Stage": stage}, indent=2) + "\n")
    shutil.rmtree(build, ignore_errors=True)
    return target


def zip_sizes(path: Path) -> tuple[int, int]:
    """Zipped and unzipped bytes of a deployment package (Lambda allows 50 MB and 250 MB)."""
    with zipfile.ZipFile(path) as archive:
        return path.stat().st_size, sum(entry.file_size for entry in archive.infolist())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.package", description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", default=list(STAGES), help="stages to package (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument(
        "--no-dependencies", action="store_true", help="leave the dependencies out (the template is the same)"
    )
    options = parser.parse_args(argv)
    python = lambda_python()
    if python is None:
        print(f"No Python {LAMBDA_PYTHON} found (LAMBDA_PYTHON): the zips carry no compiled modules.")
    for stage in options.stages:
        target = package(stage, options.out, with_dependencies=not options.no_dependencies, python=python)
        for name in ("deployment.zip", LAYER_ZIP):
            zipped, unzipped = zip_sizes(target / name)
            print(f"{target / name}: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
