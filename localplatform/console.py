"""The web console (`app/`) served at `/`, with the headers CloudFront adds to it in AWS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

# The types the publisher gives each file in the console bucket, so that CloudFront serves the same.
from infra.publish_console import CONFIG_KEY, CONTENT_TYPES, PublishError, content_type
from localplatform.template import load_template, resource_properties

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "app"


@dataclass(frozen=True)
class ConsoleResponse:
    headers: dict[str, str]
    body: bytes


class ConsoleFiles:
    """Answers GET/HEAD for the console's files; `config.json` is this platform's, as the pipeline
    writes it in AWS. Anything outside `root`, hidden or unknown is not the console's (None)."""

    def __init__(self, root: Path, config: dict[str, object], security_headers: dict[str, str]) -> None:
        self._root = root.resolve()
        self._config = json.dumps(config).encode()
        self._headers = security_headers

    def response(self, target: str) -> ConsoleResponse | None:
        path = unquote(urlsplit(target).path)
        if path == "/" + CONFIG_KEY:
            return self._answer(CONTENT_TYPES[".json"], self._config)
        relative = "index.html" if path == "/" else path.lstrip("/")
        if "\\" in relative or any(part.startswith(".") for part in relative.split("/")):
            return None
        try:
            file = (self._root / relative).resolve()
        except (OSError, ValueError):  # a NUL byte, a name the file system refuses
            return None
        if not file.is_relative_to(self._root) or not file.is_file():
            return None
        try:
            served_as = content_type(file)
        except PublishError:  # a type the publisher would not put in the console bucket either
            return None
        return self._answer(served_as, file.read_bytes())

    def _answer(self, served_as: str, body: bytes) -> ConsoleResponse:
        # no-cache: the browser revalidates, so an edited file shows on the next reload.
        return ConsoleResponse({"Content-Type": served_as, "Cache-Control": "no-cache"} | self._headers, body)


def console_headers(storage_origin: str) -> dict[str, str]:
    """The headers of template.yaml's response headers policy, with the local AWS in the place of
    the data bucket's S3 origins (uploads go there). No HSTS: this is plain HTTP on loopback."""
    security = resource_properties(load_template(), "ConsoleHeadersPolicy")["ResponseHeadersPolicyConfig"]
    security = security["SecurityHeadersConfig"]
    policy, _variables = security["ContentSecurityPolicy"]["ContentSecurityPolicy"].value
    return {
        "Content-Security-Policy": policy.replace("${DataBucketOrigins}", storage_origin),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": security["FrameOptions"]["FrameOption"],
        "Referrer-Policy": security["ReferrerPolicy"]["ReferrerPolicy"],
    }
