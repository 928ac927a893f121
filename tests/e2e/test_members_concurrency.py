"""The last-admin rule holds when admins act at the same moment (real threads, over HTTP)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api import Account, HttpApi, add_member, sign_up
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_admins_leaving_at_once_leave_exactly_one_admin(running_platform: RunningPlatform, action: str) -> None:
    api = HttpApi(running_platform.api_url)
    first = sign_up(api)
    admins = [first, *(add_member(api, first, "admin") for _ in range(5))]

    def leave(admin: Account) -> int:
        own = HttpApi(running_platform.api_url)  # a connection per thread
        if action == "demote":
            return own.call(
                "PATCH", f"/tenant/members/{admin.user_id}", json_body={"role": "viewer"}, token=admin.id_token
            ).status
        return own.call("DELETE", f"/tenant/members/{admin.user_id}", token=admin.id_token).status

    with ThreadPoolExecutor(max_workers=len(admins)) as pool:
        statuses = list(pool.map(leave, admins))

    assert sorted(statuses) == [200 if action == "demote" else 204] * 5 + [409]
    still_admin = [a for a, status in zip(admins, statuses, strict=True) if status == 409]
    members = api.call("GET", "/tenant/members", token=still_admin[0].id_token).body["members"]
    assert [m["user_id"] for m in members if m["role"] == "admin"] == [still_admin[0].user_id]
