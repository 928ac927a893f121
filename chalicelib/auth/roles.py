"""Roles and the actions each may take (API.md's role matrix)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"


class Action(StrEnum):
    READ = "read"  # files, tables, members; run queries and read one's own
    UPLOAD = "upload"
    DELETE_OWN_FILE = "delete_own_file"
    DELETE_ANY_FILE = "delete_any_file"
    FINISH_ANY_UPLOAD = "finish_any_upload"  # part URLs and completion of an upload another member started
    MANAGE_MEMBERS = "manage_members"
    SET_BUDGET = "set_budget"  # the tenant's monthly scan budget
    SAVE_QUERY = "save_query"  # save a query for the tenant; change or delete one's own
    CHANGE_ANY_SAVED_QUERY = "change_any_saved_query"


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.ANALYST: frozenset({Action.READ, Action.UPLOAD, Action.DELETE_OWN_FILE, Action.SAVE_QUERY}),
    Role.ADMIN: frozenset(Action),
}


def allows(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]
