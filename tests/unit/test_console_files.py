"""What the local platform serves as the console: app/'s files and config.json, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localplatform.console import ConsoleFiles


@pytest.fixture
def console(tmp_path: Path) -> ConsoleFiles:
    root = tmp_path / "app"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html>")
    (root / "js" / "main.js").write_text("export {};")
    (root / ".env").write_text("SECRET=1")
    (root / "build.sh").write_text("echo not served")
    (tmp_path / "outside.js").write_text("secret")
    return ConsoleFiles(root, {"stage": "local", "local": True}, {"Content-Security-Policy": "default-src 'none'"})


def test_the_page_modules_and_config_are_served_with_their_types_and_the_policy(console: ConsoleFiles) -> None:
    page = console.response("/")
    assert page is not None
    assert page.body == b"<!doctype html>"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == "default-src 'none'"
    module = console.response("/js/main.js?v=1")
    assert module is not None
    assert module.headers["Content-Type"] == "text/javascript; charset=utf-8"
    config = console.response("/config.json")
    assert config is not None
    assert json.loads(config.body) == {"stage": "local", "local": True}


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.js",
        "/js/../../outside.js",
        "/%2e%2e/outside.js",
        "/js/%2E%2E/%2E%2E/outside.js",
        "/.env",
        "/js/.hidden.js",
        "/js",
        "/build.sh",
        "/missing.js",
        "//etc/passwd",
        "/%00",
        "/js%5C..%5C..%5Coutside.js",
    ],
)
def test_nothing_outside_app_hidden_unknown_or_missing_is_served(console: ConsoleFiles, path: str) -> None:
    assert console.response(path) is None
