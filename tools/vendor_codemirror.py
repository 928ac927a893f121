#!/usr/bin/env python3
"""Vendor CodeMirror 6 (SQL editor) into app/vendor/codemirror/ as plain ES modules.

The console is served as static ES modules under a Content-Security-Policy of
``script-src 'self'``, so there is no bundler and no inline import map: every
import has to be a relative URL. This script

1. installs the pinned packages below, and the pinned esbuild (the minifier,
   not vendored), with ``npm install --no-save --ignore-scripts`` into a
   temporary directory (nothing is written to the repository's own package
   files, and no package install script runs);
2. checks that npm installed exactly the pinned versions, each with the pinned
   integrity hash, and nothing else: esbuild's native binary comes as the one
   optional dependency that fits the machine (``@esbuild/linux-x64``,
   ``@esbuild/linux-arm64``, pinned in ESBUILD_BINARIES), and the script runs
   that binary itself, so esbuild's install script is not needed;
3. copies each package's browser ESM entry file (found from package.json's
   ``exports``/``module``) to ``app/vendor/codemirror/<name>.js``, where
   ``<name>`` is the package name with ``@`` dropped and ``/`` turned into
   ``-`` (``@codemirror/state`` -> ``codemirror-state.js``), rewriting every
   bare import specifier to that relative file (``'@codemirror/state'`` ->
   ``'./codemirror-state.js'``), and then minifies each file on its own with
   esbuild (a transform, not a bundle: it stays one module importing the others
   by those relative names) under a one-line header naming the package, its
   version and its license file;
4. writes ``index.js`` (the one module the console imports from; not
   minified), the licenses and ``VERSIONS.txt``;
5. links and evaluates the whole module graph in Node (vm.SourceTextModule,
   with a linker that accepts only the vendored relative files), once as
   rewritten and once minified, checks that index.js exports exactly the names
   listed in INDEX_EXPORTS, and that minifying changed no module's exports or
   imports.

Anything unexpected (an unresolved bare specifier, a relative import inside a
package, a package npm added or dropped, a version or hash that differs, a
pinned package nothing imports, a name index.js cannot export, an esbuild
error or warning) stops the script with an error before app/vendor/codemirror/
is touched. The output depends only on the pins: a rerun writes the same bytes.

Usage:
    python3 tools/vendor_codemirror.py            # vendor the pinned versions
    python3 tools/vendor_codemirror.py --resolve  # print new pins, touch nothing

To upgrade: run with --resolve (resolves the newest 6.x of each package in
TOP_LEVEL and lets npm resolve the rest, with esbuild at ESBUILD_VERSION), paste
the printed PINS, INTEGRITY, ESBUILD_INTEGRITY and ESBUILD_BINARIES over the
ones below, rerun without arguments, and check the console. To upgrade esbuild,
set ESBUILD_VERSION first (its output may change with it).

Needs python3 (standard library only), node and npm, and the npm registry; esbuild's
binary is pinned for linux-x64 and linux-arm64 (ESBUILD_BINARIES).
"""

# A command-line tool: it prints its report and runs npm, node and esbuild with fixed arguments.
# ruff: noqa: T201, S603

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEST = REPO / "app" / "vendor" / "codemirror"

# The packages the console needs; each is installed at the newest 6.x by --resolve.
TOP_LEVEL = [
    "@codemirror/state",
    "@codemirror/view",
    "@codemirror/language",
    "@codemirror/commands",
    "@codemirror/autocomplete",
    "@codemirror/lang-sql",
]

# Every package that gets vendored: TOP_LEVEL and whatever npm resolved for them.
PINS = {
    "@codemirror/autocomplete": "6.20.4",
    "@codemirror/commands": "6.11.2",
    "@codemirror/lang-sql": "6.10.0",
    "@codemirror/language": "6.13.1",
    "@codemirror/state": "6.7.6",
    "@codemirror/streamparser": "6.0.0",
    "@codemirror/view": "6.44.2",
    "@lezer/common": "1.5.7",
    "@lezer/highlight": "1.2.5",
    "@lezer/lr": "1.4.13",
    "@marijn/find-cluster-break": "1.0.4",
    "crelt": "1.0.7",
    "style-mod": "4.1.5",
    "w3c-keyname": "2.2.8",
}

# The npm lockfile's integrity of each pinned tarball: a rerun gets the very same bytes.
INTEGRITY = {
    "@codemirror/autocomplete": (
        "sha512-yF8RhOf2SXlg00+qtupzLhrglcas61boqaONiNcbPIebHCpJocpqTBA6dyrtUrQO47hqyTdeob/3XnYilT7TaQ=="
    ),
    "@codemirror/commands": (
        "sha512-NbH6Q9lmcXvf9s5/mMJIwL2Hjl2NEdsN/dDlezGnaFOQgNZ59dT7ndKUf21/PIjJacD/Ti2Ifi4TsBkO6WHvsg=="
    ),
    "@codemirror/lang-sql": (
        "sha512-6ayPkEd/yRw0XKBx5uAiToSgGECo/GY2NoJIHXIIQh1EVwLuKoU8BP/qK0qH5NLXAbtJRLuT73hx7P9X34iO4w=="
    ),
    "@codemirror/language": (
        "sha512-zfvU2r3TyylQLMj/te+5CnQ0rSqZi8B1oTCBbQkagcLW4Xc6imab6qN+pEJhsuNOLaJqiRyBXp9UhWA1DhVvDw=="
    ),
    "@codemirror/state": (
        "sha512-kAz+AncRtKuIknedxT1bq4XwXv4UowhbkHU1myPrtVb/jZtImWuV5BXzv5vK6i3kYACsdiZiQKFQQ5Mq7elW8w=="
    ),
    "@codemirror/streamparser": (
        "sha512-JTFPF6xrfjt0mnfGPgzcLiMwYmvIyNaoizp8BYzv8FE8KrT6GBGDZ190rtt+O7Wke3gG/MFHyiY9YGNeimof4w=="
    ),
    "@codemirror/view": (
        "sha512-7yxTh7+iCbxIV9QCJAVlkYjWV/TCHD0zmLIaIR3NOb47YpCWwVUuFUnHwkRC3z+8cXNgeJzrCy4QtlR3fVt5kg=="
    ),
    "@lezer/common": (
        "sha512-3+3PN+M/3xSjrlQz8/wBPOl+JYGJ+G37ZszHfnhphFwj41qPUPxsz4WEic3ZyVpL23rX1qefaGqz0lA7jGUqwg=="
    ),
    "@lezer/highlight": (
        "sha512-O1GMVKgtf5YspFaRzpmqkVgMtIk2HG9uMAbH6wdAIdNh3TVzCsch/+cRi+6l2//UGDKe6NB9BW3cvuR5ezMQ0w=="
    ),
    "@lezer/lr": ("sha512-Ez6qF9rXdnR/7hTcA6kHq1uTcPV+17hyUFjiHBVYNi0a81TgbkC0SwiNvxcuUMkvX7phuhTHo+QAXh9L2kjGdg=="),
    "@marijn/find-cluster-break": (
        "sha512-Wy0V7+SGUjnF9/TkiM1hKVDPj7jKXduPNboMVtHTA8dySMURWqfg/JZ9E2Sq8JgSJmkl7k7Qe9FLeMSrSraWmQ=="
    ),
    "crelt": ("sha512-aK6BbWfhf4U/wCcLHKPJl/xa6VkVstRaPywWtMKGwuOLc/wZTyQYuoxgvZnNsBvv7Kg3YTBQYYBCggcviQczuA=="),
    "style-mod": ("sha512-WQ2llCZa9sZSkJA+aOwpg5DkfbAXFKGh//t3MRTBeruFiSBC+GXUmbBzrw3bXyboCWAbtCW9InDfBsXrRD/rAg=="),
    "w3c-keyname": ("sha512-dpojBhNsCNN7T82Tm7k26A6G9ML3NkhDsnw9n/eoxSRlVBB4CEtIQ/KTCLI2Fwf3ataSXRhYFkQi3SlnFwPvPQ=="),
}

# The minifier. Not vendored: it only runs on the vendored files. Its native binary is
# published per platform as an optional dependency of "esbuild", and npm installs only the
# one that fits the machine; the same version minifies to the same bytes on each.
ESBUILD_VERSION = "0.28.2"
ESBUILD_INTEGRITY = "sha512-HKVLS8dvII+xoKW9kmqxbRKrnWEXfJJr/FZhhJmiqIB0e053QNYFqOBouTMO/k5sID4MvCiUCvv8b9M4h32wIA=="
# The platforms the script runs on (a developer's machine, CI): binary package -> integrity.
ESBUILD_BINARIES = {
    "@esbuild/linux-arm64": (
        "sha512-pW4AC0P3it8c7do9MVM4p51FzHzdM/TZrerurgRcHJ2WTa1VQ1CIq18xncfpBJw4ojkiZZrKW2yIBWBP92j6Ug=="
    ),
    "@esbuild/linux-x64": (
        "sha512-4xTZr1FUmSoQW4XIWmit3tzQrUTZM+N3P0XV8xROKYF50XfI7xeO90+1bZvNwxIufQ9hDQVRJH5YhgPVF8A/HQ=="
    ),
}
# How each vendored file is minified (esbuild's transform of one file; VERSIONS.txt records it).
ESBUILD_OPTIONS = ["--minify", "--format=esm", "--target=es2022", "--legal-comments=inline"]

# What app/vendor/codemirror/index.js re-exports, by package. The console imports
# only from index.js; the build fails if any name here is not exported by its package.
INDEX_EXPORTS = {
    "@codemirror/state": ["Compartment", "EditorState", "StateEffect", "StateField"],
    "@codemirror/view": [
        "Decoration",
        "EditorView",
        "drawSelection",
        "highlightActiveLine",
        "keymap",
        "lineNumbers",
        "placeholder",
    ],
    "@codemirror/commands": ["defaultKeymap", "history", "historyKeymap", "indentWithTab"],
    "@codemirror/language": ["bracketMatching", "defaultHighlightStyle", "indentOnInput", "syntaxHighlighting"],
    "@codemirror/autocomplete": ["autocompletion", "closeBrackets", "closeBracketsKeymap", "completionKeymap"],
    "@codemirror/lang-sql": ["PostgreSQL", "SQLDialect", "StandardSQL", "sql"],
    # Beyond the editor itself: lets the console steer CodeMirror's styles into an adopted
    # stylesheet, since a CSP of style-src 'self' blocks the <style> element it makes in a document.
    "style-mod": ["StyleModule"],
}

# Conditions tried, in order, when reading package.json "exports" (a browser import).
CONDITIONS = ("browser", "import", "module", "default")

# Import forms in the published files. Bundled ESM keeps import/export
# statements at the start of a line; a dynamic import can be anywhere.
STATIC_FROM = re.compile(r"""(?m)^([ \t]*(?:import|export)\b[^;'"`]*?\bfrom[ \t]*)(['"])([^'"\n]+)\2""")
SIDE_EFFECT = re.compile(r"""(?m)^([ \t]*import[ \t]*)(['"])([^'"\n]+)\2""")
DYNAMIC = re.compile(r"""(\bimport[ \t]*\([ \t]*)(['"])([^'"\n]+)\2""")
DYNAMIC_ANY = re.compile(r"""\bimport[ \t]*\(""")
REQUIRE = re.compile(r"""\brequire[ \t]*\([ \t]*['"]""")


class VendorError(Exception):
    pass


def flat_name(package: str) -> str:
    """``@codemirror/state`` -> ``codemirror-state``; ``style-mod`` -> ``style-mod``."""
    return package.lstrip("@").replace("/", "-")


def run(cmd: list[str], cwd: Path) -> None:
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise VendorError(f"{cmd[0]} exited {proc.returncode}:\n{proc.stdout}")


def npm_install(workdir: Path, dependencies: dict[str, str], *, lock_only: bool = False) -> dict:
    """Install ``dependencies`` into ``workdir``; return npm's lockfile packages map.

    With ``lock_only`` npm only resolves: it writes package-lock.json, which (unlike an
    install) lists the optional packages of every platform, and downloads no tarball.
    """
    manifest = {"name": "vendor-codemirror", "version": "0.0.0", "private": True, "dependencies": dependencies}
    (workdir / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is not on PATH")
    run(
        [
            npm,
            "install",
            "--package-lock-only" if lock_only else "--no-save",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--install-strategy=hoisted",
            # Some setups turn this on in ~/.npmrc; VERSIONS.txt needs the tarball URLs.
            "--omit-lockfile-registry-resolved=false",
        ],
        workdir,
    )
    # --no-save writes no package-lock.json, but npm keeps its "hidden lockfile" in node_modules.
    lockfile = workdir / "package-lock.json" if lock_only else workdir / "node_modules" / ".package-lock.json"
    lock = json.loads(lockfile.read_text())
    return {key: meta for key, meta in lock["packages"].items() if key}


def installed(lock: dict) -> dict[str, dict]:
    """Lockfile entries by package name; fails if npm nested a second copy of anything."""
    result = {}
    for key, meta in lock.items():
        name = key.removeprefix("node_modules/")
        if "node_modules/" in name or meta.get("link"):
            raise VendorError(f"npm installed a nested or linked copy ({key}); pin a version every dependent accepts")
        result[name] = meta
    return result


def is_esbuild(name: str) -> bool:
    return name == "esbuild" or name.startswith("@esbuild/")


def resolve() -> None:
    """Resolve the newest 6.x of TOP_LEVEL and esbuild at ESBUILD_VERSION; print the pins to paste."""
    with tempfile.TemporaryDirectory(prefix="vendor-codemirror-") as tmp:
        dependencies = {**dict.fromkeys(TOP_LEVEL, "6"), "esbuild": ESBUILD_VERSION}
        packages = installed(npm_install(Path(tmp), dependencies, lock_only=True))
    vendored = sorted(name for name in packages if not is_esbuild(name))
    missing = sorted(set(ESBUILD_BINARIES) - set(packages))
    if missing:
        raise VendorError(f"esbuild@{ESBUILD_VERSION} has no optional dependency {', '.join(missing)}")
    print("PINS = {")
    for name in vendored:
        print(f'    "{name}": "{packages[name]["version"]}",')
    print("}")
    print("INTEGRITY = {")
    for name in vendored:
        print(f'    "{name}": (\n        "{packages[name]["integrity"]}"\n    ),')
    print("}")
    print(f'ESBUILD_INTEGRITY = "{packages["esbuild"]["integrity"]}"')
    print("ESBUILD_BINARIES = {")
    for name in sorted(ESBUILD_BINARIES):
        print(f'    "{name}": (\n        "{packages[name]["integrity"]}"\n    ),')
    print("}")


def check_lock(packages: dict[str, dict]) -> str:
    """Check the install against the pins; return the esbuild binary package npm chose for this machine."""
    problems = []
    binaries = sorted(set(packages) & set(ESBUILD_BINARIES))
    if len(binaries) != 1:
        problems.append(
            f"npm installed {len(binaries)} of the esbuild binaries {', '.join(ESBUILD_BINARIES)}, not one"
            " (on another platform, pin its @esbuild/ package in ESBUILD_BINARIES)"
        )
    pins = {**PINS, "esbuild": ESBUILD_VERSION, **dict.fromkeys(binaries, ESBUILD_VERSION)}
    integrity = {**INTEGRITY, "esbuild": ESBUILD_INTEGRITY, **ESBUILD_BINARIES}
    for name in sorted(set(packages) - set(pins)):
        problems.append(f"npm added {name}@{packages[name]['version']}, which is not pinned")
    for name in sorted(set(pins) - set(packages)):
        problems.append(f"{name} is pinned but npm did not install it")
    for name in sorted(set(pins) & set(packages)):
        meta = packages[name]
        if meta.get("version") != pins[name]:
            problems.append(f"{name}: npm installed {meta.get('version')}, the pin says {pins[name]}")
        if meta.get("integrity") != integrity.get(name):
            problems.append(f"{name}: integrity {meta.get('integrity')} is not the pinned {integrity.get(name)}")
        if not meta.get("resolved"):
            problems.append(f"{name}: the lockfile has no tarball URL")
        for flag in ("dev", "optional", "peer", "devOptional"):
            # esbuild's binary is its optional dependency for this platform, so optional is expected there.
            if meta.get(flag) and not (flag == "optional" and name in ESBUILD_BINARIES):
                problems.append(f"{name}: npm marked it {flag}")
    if problems:
        raise VendorError(
            "the install does not match the pins:\n  "
            + "\n  ".join(problems)
            + "\n(run with --resolve to get new pins)"
        )
    return binaries[0]


def pick_export(target: object) -> str | None:
    """The file a browser ``import`` resolves to, from one value of package.json "exports"."""
    if isinstance(target, str):
        return target
    if isinstance(target, list):
        for item in target:
            found = pick_export(item)
            if found:
                return found
        return None
    if isinstance(target, dict):
        for condition in CONDITIONS:
            if condition in target:
                found = pick_export(target[condition])
                if found:
                    return found
    return None


def esm_entry(pkg_dir: Path, manifest: dict) -> Path:
    exports = manifest.get("exports")
    entry = None
    if exports is not None:
        if isinstance(exports, dict) and any(key.startswith(".") for key in exports):
            if "." not in exports:
                raise VendorError(f"{manifest['name']}: package.json exports has no '.' entry")
            exports = exports["."]
        entry = pick_export(exports)
        if entry is None:
            raise VendorError(f"{manifest['name']}: no {'/'.join(CONDITIONS)} entry in exports {exports!r}")
    elif manifest.get("module"):
        entry = manifest["module"]
    elif manifest.get("type") == "module" and manifest.get("main"):
        entry = manifest["main"]
    else:
        raise VendorError(f"{manifest['name']}: package.json names no ES module entry (exports/module)")
    path = (pkg_dir / entry).resolve()
    if pkg_dir.resolve() not in path.parents or not path.is_file():
        raise VendorError(f"{manifest['name']}: entry {entry} is not a file in the package")
    if path.suffix not in (".js", ".mjs"):
        raise VendorError(f"{manifest['name']}: entry {entry} is not a .js/.mjs module")
    return path


def bare_package(specifier: str) -> str | None:
    """The package a bare specifier names, or None for a relative/absolute/URL one."""
    if specifier.startswith(("./", "../", "/")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", specifier):
        return None
    parts = specifier.split("/")
    return "/".join(parts[:2]) if specifier.startswith("@") else parts[0]


def rewrite(source: str, where: str, vendored: set[str]) -> tuple[str, set[str]]:
    """Point every bare specifier at its vendored file; return the text and the packages it imports."""
    imported: set[str] = set()

    def replace(match: re.Match) -> str:
        prefix, quote, specifier = match.group(1), match.group(2), match.group(3)
        package = bare_package(specifier)
        if package is None:
            raise VendorError(
                f"{where}: imports {specifier!r}, not a package: only single-file packages can be vendored"
            )
        if specifier != package:
            raise VendorError(f"{where}: import of the subpath {specifier!r} is not supported")
        if package not in vendored:
            raise VendorError(f"{where}: unresolved bare specifier {specifier!r} (add the package to PINS)")
        imported.add(package)
        return f"{prefix}{quote}./{flat_name(package)}.js{quote}"

    for pattern in (STATIC_FROM, SIDE_EFFECT, DYNAMIC):
        source = pattern.sub(replace, source)
    if len(DYNAMIC_ANY.findall(source)) != len(DYNAMIC.findall(source)):
        raise VendorError(f"{where}: has an import() whose argument is not a string literal")
    if REQUIRE.search(source):
        raise VendorError(f"{where}: calls require(); not an ES module")
    return source, imported


def check_specifiers(files: dict[str, str]) -> None:
    """After rewriting, every specifier must be one of the vendored files."""
    for filename, source in files.items():
        for pattern in (STATIC_FROM, SIDE_EFFECT, DYNAMIC):
            for match in pattern.finditer(source):
                specifier = match.group(3)
                if not (specifier.startswith("./") and specifier[2:] in files):
                    raise VendorError(f"{filename}: specifier {specifier!r} left unresolved")


NODE_CHECK = r"""
const fs = require("fs"), path = require("path"), vm = require("vm");
const dir = process.argv[1], expected = JSON.parse(process.argv[2]);
const cache = new Map();
function load(file) {
  if (!cache.has(file)) {
    const source = fs.readFileSync(path.join(dir, file), "utf8");
    cache.set(file, new vm.SourceTextModule(source, { identifier: file,
      importModuleDynamically: (spec) => { throw new Error(file + ": dynamic import(" + spec + ")"); } }));
  }
  return cache.get(file);
}
(async () => {
  const index = load("index.js");
  await index.link((specifier, referrer) => {
    const file = specifier.startsWith("./") ? specifier.slice(2) : null;
    if (!file || file.includes("/") || !fs.existsSync(path.join(dir, file)))
      throw new Error(referrer.identifier + ": cannot resolve " + JSON.stringify(specifier));
    return load(file);
  });
  await index.evaluate();
  const got = Object.keys(index.namespace).sort(), want = [...expected].sort();
  if (JSON.stringify(got) !== JSON.stringify(want))
    throw new Error("index.js exports " + got.join(", ") + "; expected " + want.join(", "));
  for (const name of got)
    if (index.namespace[name] === undefined) throw new Error("index.js export " + name + " is undefined");
  const unused = fs.readdirSync(dir).filter(f => f.endsWith(".js") && !cache.has(f));
  if (unused.length) throw new Error("not reached from index.js: " + unused.join(", "));
  const modules = {};
  for (const file of [...cache.keys()].sort()) {
    const m = cache.get(file);
    modules[file] = { imports: [...m.dependencySpecifiers].sort(), exports: Object.keys(m.namespace).sort() };
  }
  console.log(JSON.stringify(modules));
})().catch(e => { console.error(String(e && e.stack || e)); process.exit(1); });
"""


def node_check(out: Path, names: list[str]) -> dict[str, dict]:
    """Link and evaluate the tree in ``out`` from index.js; return each module's imports and exports."""
    node = shutil.which("node")
    if node is None:
        raise VendorError("node is not on PATH")
    proc = subprocess.run(
        [node, "--experimental-vm-modules", "--no-warnings", "-e", NODE_CHECK, str(out), json.dumps(names)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0:
        raise VendorError(f"the modules in {out.name}/ do not link in node:\n" + proc.stdout)
    modules = json.loads(proc.stdout)
    print(f"node: {out.name}/: linked and evaluated {len(modules)} modules; index.js exports {len(names)} names")
    return modules


def esbuild_binary(node_modules: Path, package: str) -> Path:
    """The native esbuild in ``package`` (what esbuild's own launcher would run), checked to be ESBUILD_VERSION."""
    binary = node_modules / package / "bin" / "esbuild"
    if not binary.is_file():
        raise VendorError(f"{package} has no bin/esbuild")
    proc = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or proc.stdout.strip() != ESBUILD_VERSION:
        raise VendorError(f"{binary} --version printed {proc.stdout.strip()!r}, not {ESBUILD_VERSION}")
    return binary


def minify(esbuild: Path, source: str, where: str) -> str:
    """esbuild's minified transform of one ES module, fed on stdin; a warning stops the script too."""
    proc = subprocess.run(
        [esbuild, *ESBUILD_OPTIONS, "--loader=js", f"--sourcefile={where}", "--log-level=warning"],
        input=source,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    if proc.returncode != 0 or proc.stderr.strip():
        raise VendorError(f"esbuild exited {proc.returncode} on {where}:\n{proc.stderr}")
    return proc.stdout


def find_license(pkg_dir: Path, name: str) -> Path:
    candidates = sorted(
        p for p in pkg_dir.iterdir() if p.is_file() and re.match(r"(?i)^(licen[cs]e|copying)(\.(md|txt))?$", p.name)
    )
    if not candidates:
        raise VendorError(f"{name}: no LICENSE file in the package")
    return candidates[0]


def index_source() -> str:
    lines = [
        "// The one module the console imports CodeMirror from.",
        "// Generated by tools/vendor_codemirror.py; edit INDEX_EXPORTS there and rerun, not this file.",
        "",
    ]
    for package, names in INDEX_EXPORTS.items():
        lines.append(f'export {{ {", ".join(sorted(names))} }} from "./{flat_name(package)}.js";')
    return "\n".join(lines) + "\n"


def build(node_modules: Path, packages: dict[str, dict], esbuild: Path, out: Path, readable: Path) -> list[str]:
    """Write the vendored tree into ``out`` (and, unminified, into ``readable``); return the VERSIONS.txt lines."""
    vendored = set(PINS)
    files: dict[str, str] = {}
    headers: dict[str, str] = {}
    imports: dict[str, set[str]] = {}
    versions = []
    (out / "licenses").mkdir(parents=True)
    for name in sorted(PINS):
        pkg_dir = node_modules / name
        manifest = json.loads((pkg_dir / "package.json").read_text())
        if manifest.get("name") != name or manifest.get("version") != PINS[name]:
            raise VendorError(
                f"{pkg_dir}/package.json is {manifest.get('name')}@{manifest.get('version')}, not {name}@{PINS[name]}"
            )
        entry = esm_entry(pkg_dir, manifest)
        filename = f"{flat_name(name)}.js"
        source, imports[name] = rewrite(
            entry.read_text(encoding="utf-8"), f"{name} ({entry.relative_to(pkg_dir)})", vendored
        )
        license_id = manifest.get("license") or "UNKNOWN"
        headers[filename] = (
            f"// {name}@{PINS[name]} ({license_id}, licenses/{flat_name(name)}.LICENSE.txt),"
            f" {entry.relative_to(pkg_dir)} with imports made relative and minified (esbuild {ESBUILD_VERSION})"
            " by tools/vendor_codemirror.py. Do not edit.\n"
        )
        files[filename] = source
        shutil.copyfile(find_license(pkg_dir, name), out / "licenses" / f"{flat_name(name)}.LICENSE.txt")
        lock = packages[name]
        versions.append(
            f"{name}@{PINS[name]}\tlicense {license_id}\t{filename} <- {entry.relative_to(pkg_dir)}"
            f"\t{lock['resolved']}\t{lock['integrity']}"
        )

    # Every pinned package must be reachable from what index.js re-exports.
    reached, todo = set(), list(INDEX_EXPORTS)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(imports[name])
    if reached != vendored:
        raise VendorError(f"pinned but imported by nothing: {', '.join(sorted(vendored - reached))} (drop from PINS)")

    files["index.js"] = index_source()
    check_specifiers(files)
    names = [n for names in INDEX_EXPORTS.values() for n in names]
    readable.mkdir()
    for filename, source in files.items():
        (readable / filename).write_text(source, encoding="utf-8")
    before = node_check(readable, names)

    # Minify each package's file on its own, after the rewriting: the imports stay the relative files.
    # The header goes on afterwards, since esbuild keeps only legal comments (there are none upstream).
    for filename, source in files.items():
        if filename != "index.js":
            source = headers[filename] + minify(esbuild, source, filename)
        (out / filename).write_text(source, encoding="utf-8")
    after = node_check(out, names)
    changed = sorted(f for f in before if before[f] != after.get(f))
    if changed or before.keys() != after.keys():
        raise VendorError(f"minifying changed the imports or exports of {', '.join(changed) or 'the module graph'}")
    return versions


def write_versions(out: Path, versions: list[str], esbuild_lock: dict) -> None:
    esbuild_license = esbuild_lock.get("license") or "UNKNOWN"
    lines = [
        "CodeMirror 6 vendored by tools/vendor_codemirror.py (npm install --no-save --ignore-scripts).",
        "One line per package: name@version, license (package.json), vendored file <- package entry,",
        'npm registry tarball (lockfile "resolved"), tarball integrity (lockfile).',
        f"Each vendored file is minified on its own by esbuild {ESBUILD_VERSION} (esbuild {' '.join(ESBUILD_OPTIONS)})",
        "after its imports are made relative; index.js is not minified. The licenses, as the packages ship",
        "them, are in licenses/.",
        "",
        *versions,
        "",
        # Only what the pins fix (not which binary this machine used), so that every platform writes the same.
        "The minifier (not vendored): esbuild, and its binary for the platform it ran on, one of these.",
        f"esbuild@{ESBUILD_VERSION}\tlicense {esbuild_license}\tminifier"
        f"\t{esbuild_lock['resolved']}\t{esbuild_lock['integrity']}",
        *(f"{name}@{ESBUILD_VERSION}\t\tbinary\t\t{ESBUILD_BINARIES[name]}" for name in sorted(ESBUILD_BINARIES)),
    ]
    (out / "VERSIONS.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def report(dest: Path) -> None:
    total = total_gz = 0
    print(f"\n{'file':40} {'bytes':>8} {'gzip -9':>8}")
    for path in sorted(dest.glob("*.js")):
        data = path.read_bytes()
        size, gz = len(data), len(gzip.compress(data, compresslevel=9, mtime=0))
        total, total_gz = total + size, total_gz + gz
        print(f"{path.name:40} {size:8} {gz:8}")
    print(f"{'total (.js, gzip per file)':40} {total:8} {total_gz:8}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolve", action="store_true", help="print pins for the newest 6.x; touch nothing")
    args = parser.parse_args()
    try:
        if args.resolve:
            resolve()
            return 0
        with tempfile.TemporaryDirectory(prefix="vendor-codemirror-") as tmp:
            work = Path(tmp)
            packages = installed(npm_install(work, {**PINS, "esbuild": ESBUILD_VERSION}))
            binary = check_lock(packages)
            esbuild = esbuild_binary(work / "node_modules", binary)
            print(f"minifier: esbuild {ESBUILD_VERSION} from {binary}")
            out = work / "out"
            versions = build(work / "node_modules", packages, esbuild, out, work / "readable")
            write_versions(out, versions, packages["esbuild"])
            # Everything checked: replace the vendored tree in one go.
            DEST.parent.mkdir(parents=True, exist_ok=True)
            if DEST.exists():
                shutil.rmtree(DEST)
            shutil.copytree(out, DEST)
        print(f"wrote {DEST.relative_to(REPO)}/")
        report(DEST)
        return 0
    except VendorError as error:
        print(f"vendor_codemirror: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
