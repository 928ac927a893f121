"""A platform and its storage as an httpx transport, for what the real one cannot be made to do on cue:
drop a connection, throttle, expire a URL, lose a part."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

API = "http://api.test"
STORAGE = "http://storage.test"
FILE_ID = "01KAAAAAAAAAAAAAAAAAAAAAAA"
MIB = 1024 * 1024

Handler = Callable[[httpx.Request], httpx.Response]


def error(status: int, code: str, message: str = "It went wrong.", request_id: str = "req-1") -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"code": code, "message": message, "request_id": request_id}},
        headers={"X-Request-Id": request_id},
    )


def file_record(status: str = "UPLOADING", **fields: Any) -> dict[str, Any]:
    return {
        "file_id": FILE_ID,
        "name": "data.csv",
        "status": status,
        "size": 10,
        "content_type": "text/csv",
        "format": None,
        "compression": None,
        "sha256": None,
        "row_count": None,
        "columns": [],
        "table": None,
        "created_at": "2026-12-03T10:00:00.000Z",
        "updated_at": "2026-12-03T10:00:00.000Z",
        "error": None,
        "notes": [],
    } | fields


class FakePlatform:
    """Routes by method and path to handlers a test sets; records every request it is sent."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def route(self, method: str, pattern: str, handler: Handler | httpx.Response) -> None:
        respond = handler if callable(handler) else (lambda _request: handler)
        self.routes[(method, pattern)] = respond

    def sequence(self, method: str, pattern: str, *answers: httpx.Response | Exception) -> None:
        """Answer these in turn (an exception is raised as the transport's), then the last one for ever."""
        queue = list(answers)

        def respond(request: httpx.Request) -> httpx.Response:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            if isinstance(answer, Exception):
                raise answer
            return answer

        self.routes[(method, pattern)] = respond

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append(request)
        self.bodies.append(body)
        url = str(request.url).split("?")[0]
        for (method, pattern), respond in self.routes.items():
            if method == request.method and re.fullmatch(pattern, url):
                return respond(request)
        return error(404, "not_found", f"No fake route for {request.method} {url}.")

    def sent(self, method: str, pattern: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, str(r.url).split("?")[0])]


class FakeStorage:
    """Multipart parts as S3 keeps them: PUT stores a part and answers its ETag."""

    def __init__(self, platform: FakePlatform, part_size: int, size: int) -> None:
        self.part_size, self.size = part_size, size
        self.count = -(-size // part_size)
        self.parts: dict[int, bytes] = {}
        self.puts: list[int] = []
        self.fail: Callable[[int], httpx.Response | Exception | None] = lambda _number: None
        platform.route("PUT", rf"{STORAGE}/part/\d+", self.put)
        platform.route("GET", rf"{API}/uploads/{FILE_ID}/parts", self.page)
        platform.route("POST", rf"{API}/uploads/{FILE_ID}/complete", self.complete)

    def part(self, number: int, url_version: int = 0) -> dict[str, Any]:
        size = min(self.part_size, self.size - (number - 1) * self.part_size)
        described = {"part_number": number, "size": size, "url": f"{STORAGE}/part/{number}?v={url_version}"}
        return described | ({"etag": f'"etag-{number}"'} if number in self.parts else {})

    def upload(self, first: int = 1, url_version: int = 0) -> dict[str, Any]:
        return {
            "method": "MULTIPART",
            "upload_id": "upload-1",
            "part_size": self.part_size,
            "part_count": self.count,
            "parts": [self.part(n, url_version) for n in range(first, self.count + 1)],
            "next_part": None,
        }

    def put(self, request: httpx.Request) -> httpx.Response:
        number = int(request.url.path.rsplit("/", 1)[1])
        failure = self.fail(number)
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            return failure
        body = request.read()
        assert len(body) == int(request.headers["Content-Length"])
        self.parts[number] = body
        self.puts.append(number)
        return httpx.Response(200, headers={"ETag": f'"etag-{number}"'})

    def page(self, request: httpx.Request) -> httpx.Response:
        first = int(request.url.params.get("from", "1"))
        return httpx.Response(200, json={"file_id": FILE_ID, "upload": self.upload(first, 1), "expires_in": 900})

    def complete(self, request: httpx.Request) -> httpx.Response:
        listed = json.loads(request.read())["parts"]
        assert [p["part_number"] for p in listed] == list(range(1, self.count + 1))
        assert all(p["etag"] == f'"etag-{p["part_number"]}"' for p in listed)
        return httpx.Response(200, json=file_record(size=self.size))

    def assembled(self) -> bytes:
        return b"".join(self.parts[n] for n in range(1, self.count + 1))
