"""Smoke test of a running platform: the local one (tests/e2e/test_smoke.py) or any deployed stage.

One new tenant goes through the whole path once: sign up (confirmed through Cognito's admin API
where the API asks for the e-mailed code), log in, upload a small CSV, wait until it is READY,
query it, see it in GET /tables, delete it. The Cognito user is deleted at the end wherever the
admin API is available. Each step is printed with its timing; the first failure stops the run.

    python -m tests.smoke --api-url https://….execute-api.us-east-1.amazonaws.com/dev/ --user-pool-id us-east-1_…
    python -m tests.smoke --stack-name sdp-dev          # both read from the stack's outputs
    python -m tests.smoke --api-url http://127.0.0.1:8000   # `make run`

Exit status: 0 when every step passed, 1 at the first failed step, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tests.api import PASSWORD, HttpApi, Reply, unique_email

T = TypeVar("T")

FILE_NAME = "smoke.csv"
TABLE = "smoke"
CSV = b"region,amount\nnorth,10\nsouth,5\nnorth,3\n"
SQL = f"SELECT region, sum(amount) AS total FROM {TABLE} GROUP BY region ORDER BY region"
EXPECTED_ROWS = [("north", 13.0), ("south", 5.0)]


class SmokeFailure(Exception):
    """A step that did not do what it should; the message says what was seen."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _reply_text(reply: Reply) -> str:
    body = reply.body.decode(errors="replace")[:300] if isinstance(reply.body, bytes) else reply.body
    return f"HTTP {reply.status} {body}"


def confirm_by_admin(cognito: Any, user_pool_id: str, email: str) -> None:
    """Confirm a sign-up as the e-mailed code would: Cognito's AdminConfirmSignUp."""
    cognito.admin_confirm_sign_up(UserPoolId=user_pool_id, Username=email)


@dataclass
class Smoke:
    """The smoke run against one API. `cognito` (a boto3 cognito-idp client) and `user_pool_id`
    confirm the sign-up where the API asks for a code, and delete the user afterwards."""

    api: HttpApi
    cognito: Any = None
    user_pool_id: str | None = None
    ready_timeout: float = 300.0
    query_timeout: float = 120.0
    write: Callable[[str], Any] = sys.stdout.write
    email: str = field(default_factory=lambda: unique_email("smoke"))
    timings: list[tuple[str, float]] = field(default_factory=list)
    tenant_id: str | None = None
    _token: str | None = None
    _file_id: str | None = None
    _file_deleted: bool = False
    _user_created: bool = False

    @property
    def has_admin_api(self) -> bool:
        return self.cognito is not None and bool(self.user_pool_id)

    def run(self) -> None:
        """Every step in order; SmokeFailure at the first that fails. Clean-up runs either way."""
        self.write(f"smoke test of {self.api.base_url} as {self.email}\n")
        started = time.monotonic()
        try:
            self.step("the API answers GET /health", self.health)
            confirmation_required = self.step("sign up a new tenant", self.sign_up)
            if confirmation_required:
                self.step("confirm the sign-up (Cognito admin API)", self.confirm)
            self.step("log in", self.log_in)
            self.step("GET /me names the new tenant's admin", self.me)
            self.step(f"upload {FILE_NAME}", self.upload)
            self.step("wait until the file is READY", self.wait_ready)
            self.step("run a query and check its answer", self.query)
            self.step("GET /tables lists the table", self.tables_list_it)
            self.step("delete the file", self.delete_file)
            self.step("GET /tables no longer lists it", self.tables_forget_it)
        finally:
            self.clean_up()
        self.write(f"smoke test passed in {time.monotonic() - started:.2f} s\n")

    def step(self, name: str, action: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            result = action()
        except Exception as error:
            seconds = time.monotonic() - started
            self.timings.append((name, seconds))
            message = str(error) or type(error).__name__
            if not isinstance(error, AssertionError):
                message = f"{type(error).__name__}: {message}"
            self.write(f"FAIL {name} ({seconds:.2f} s): {message}\n")
            raise SmokeFailure(name, message) from error
        seconds = time.monotonic() - started
        self.timings.append((name, seconds))
        self.write(f"  ok {name} ({seconds:.2f} s)\n")
        return result

    # --- the steps ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Reply:
        return self.api.call(method, path, token=self._token, **kwargs)

    def health(self) -> None:
        reply = self.api.call("GET", "/health")
        _expect(reply.status == 200 and reply.body.get("status") == "ok", _reply_text(reply))

    def sign_up(self) -> bool:
        """POST /auth/signup; whether the API waits for the e-mailed code."""
        body = {"email": self.email, "password": PASSWORD, "tenant_name": "smoke test"}
        reply = self.api.call("POST", "/auth/signup", json_body=body)
        _expect(reply.status == 201, _reply_text(reply))
        self._user_created = True
        self.tenant_id = reply.body["tenant_id"]
        return bool(reply.body.get("confirmation_required"))

    def confirm(self) -> None:
        _expect(
            self.has_admin_api,
            "the API asks for the e-mailed code: give --user-pool-id (or --stack-name) so that the "
            "sign-up is confirmed through Cognito's admin API",
        )
        confirm_by_admin(self.cognito, self.user_pool_id, self.email)

    def log_in(self) -> None:
        reply = self.api.call("POST", "/auth/login", json_body={"email": self.email, "password": PASSWORD})
        _expect(reply.status == 200 and "id_token" in reply.body, _reply_text(reply))
        self._token = reply.body["id_token"]

    def me(self) -> None:
        reply = self._call("GET", "/me")
        _expect(reply.status == 200, _reply_text(reply))
        seen = (reply.body.get("email"), reply.body.get("tenant_id"), reply.body.get("role"))
        _expect(seen == (self.email, self.tenant_id, "admin"), f"GET /me answered {reply.body}")

    def upload(self) -> None:
        reply = self._call("POST", f"/files?name={FILE_NAME}", raw=CSV, headers={"Content-Type": "text/csv"})
        _expect(reply.status == 201, _reply_text(reply))
        self._file_id = reply.body["file_id"]

    def wait_ready(self) -> None:
        record = self._poll(
            f"/files/{self._file_id}",
            lambda body: body.get("status") in ("READY", "FAILED"),
            self.ready_timeout,
        )
        _expect(record.get("status") == "READY", f"the file is {record.get('status')}: {record.get('error')}")
        seen = (record.get("table"), record.get("row_count"), record.get("format"))
        _expect(seen == (TABLE, 3, "csv"), f"table, rows and format are {seen}, not {(TABLE, 3, 'csv')}")

    def query(self) -> None:
        deadline = time.monotonic() + self.query_timeout
        pause = 0.5
        while (submitted := self._call("POST", "/queries", json_body={"sql": SQL})).status == 429:
            _expect(time.monotonic() < deadline, f"still refused after {self.query_timeout:.0f} s: {submitted.body}")
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
        _expect(submitted.status == 202, _reply_text(submitted))
        record = self._poll(
            f"/queries/{submitted.body['query_id']}?wait=10",
            lambda body: body.get("status") not in ("QUEUED", "RUNNING"),
            max(deadline - time.monotonic(), 1.0),
        )
        _expect(record.get("status") == "SUCCEEDED", f"the query is {record.get('status')}: {record.get('error')}")
        rows = [(row[0], float(row[1])) for row in record.get("rows", [])]
        _expect(rows == EXPECTED_ROWS, f"the query answered {record.get('rows')}, not {EXPECTED_ROWS}")

    def tables_list_it(self) -> None:
        reply = self._call("GET", "/tables")
        _expect(reply.status == 200, _reply_text(reply))
        listed = {(table["table"], table["file_id"], table["row_count"]) for table in reply.body["tables"]}
        _expect((TABLE, self._file_id, 3) in listed, f"GET /tables answered {reply.body}")

    def delete_file(self) -> None:
        reply = self._call("DELETE", f"/files/{self._file_id}")
        _expect(reply.status == 204, _reply_text(reply))
        self._file_deleted = True
        again = self._call("GET", f"/files/{self._file_id}")
        _expect(again.status == 404, f"after DELETE, GET /files/{{id}} answered {_reply_text(again)}")

    def tables_forget_it(self) -> None:
        reply = self._call("GET", "/tables")
        _expect(reply.status == 200, _reply_text(reply))
        _expect(reply.body["tables"] == [], f"GET /tables answered {reply.body}")

    def _poll(self, path: str, done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """GET `path` until `done` says so, backing off up to 2 s (the WAF limits requests per IP)."""
        deadline = time.monotonic() + timeout
        pause = 0.1
        while True:
            reply = self._call("GET", path)
            _expect(reply.status == 200, _reply_text(reply))
            if done(reply.body):
                return reply.body
            _expect(time.monotonic() < deadline, f"still {reply.body.get('status')} after {timeout:.0f} s")
            time.sleep(pause)
            pause = min(pause * 1.5, 2.0)

    # --- clean-up -------------------------------------------------------------------------------

    def clean_up(self) -> None:
        """Whatever the run left behind, best effort: the file, then the Cognito user."""
        if self._file_id and not self._file_deleted and self._token:
            try:
                self._call("DELETE", f"/files/{self._file_id}")
            except Exception as error:
                self.write(f"  -- could not delete file {self._file_id}: {error}\n")
        if not self._user_created:
            return
        if not self.has_admin_api:
            self.write(f"  -- user {self.email} stays: no Cognito admin API here (give --user-pool-id)\n")
            return
        with contextlib.suppress(SmokeFailure):  # reported; the run's own outcome stands
            self.step("delete the Cognito user", self.delete_user)

    def delete_user(self) -> None:
        self.cognito.admin_delete_user(UserPoolId=self.user_pool_id, Username=self.email)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """A deployed stage's outputs (EndpointURL, UserPoolId, …) by key."""
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.smoke", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--api-url", help="the API's base URL (a stack's EndpointURL output, or the local one)")
    target.add_argument("--stack-name", help="read EndpointURL and UserPoolId from this stack's outputs (sdp-dev …)")
    parser.add_argument("--user-pool-id", help="confirm the sign-up and delete the user with Cognito's admin API")
    parser.add_argument("--region", help="the stack's AWS region (default: the environment's or profile's)")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for READY (300)")
    parser.add_argument("--query-timeout", type=float, default=120.0, help="seconds to wait for the query (120)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    api_url, user_pool_id = args.api_url, args.user_pool_id
    cognito = None
    try:
        if args.stack_name or user_pool_id:
            import boto3

            session = boto3.session.Session(region_name=args.region)
            if args.stack_name:
                outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
                api_url, user_pool_id = outputs["EndpointURL"], user_pool_id or outputs.get("UserPoolId")
            if user_pool_id:
                cognito = session.client("cognito-idp")
    except Exception as error:
        sys.stderr.write(f"smoke test could not start: {type(error).__name__}: {error}\n")
        return 1
    smoke = Smoke(
        HttpApi(api_url),
        cognito=cognito,
        user_pool_id=user_pool_id,
        ready_timeout=args.ready_timeout,
        query_timeout=args.query_timeout,
    )
    try:
        smoke.run()
    except SmokeFailure as failure:
        sys.stderr.write(f"smoke test FAILED at step '{failure.step}': {failure.message}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
