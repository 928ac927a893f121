"""Saved queries: SQL a tenant keeps under a name, for every member to read and run.

Any member reads and runs them; an analyst or admin saves one; its author changes or deletes it,
and an admin any. Its SQL is judged by the SQL guard when it is saved and whenever it changes, as
a query submitted now would be (the tables it names must be the tenant's); a run is a query like
any other, so it is judged again then, against the tables as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import keys
from chalicelib.auth.caller import Caller
from chalicelib.auth.roles import Action
from chalicelib.aws.dynamo import from_item, get_item, query_page, to_item, value
from chalicelib.errors import Forbidden, NotFound
from chalicelib.ids import is_id, new_id
from chalicelib.times import now

NAME_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 2000
# A name is one line of 1-120 characters, not only spaces (it is kept without those at either end);
# docs/openapi.yaml states the same pattern (tests/scenarios/test_saved_queries.py holds them equal).
NAME_PATTERN = rf"^(?!\s*(?![\s\S]))[^\x00-\x1f\x7f-\x9f]{{1,{NAME_MAX_LENGTH}}}(?![\s\S])"


class SavedQueryNotFound(NotFound):
    code = "saved_query_not_found"
    message = "No saved query with that id."


@dataclass(frozen=True)
class SavedQuery:
    tenant_id: str
    saved_query_id: str
    name: str
    sql: str
    description: str | None
    author_id: str
    created_at: str
    updated_at: str

    def view(self) -> dict[str, Any]:
        """API.md's saved query."""
        return {
            "saved_query_id": self.saved_query_id,
            "name": self.name,
            "sql": self.sql,
            "description": self.description,
            "author_id": self.author_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SavedQuery:
        return cls(
            tenant_id=item["tenant_id"],
            saved_query_id=item["saved_query_id"],
            name=item["name"],
            sql=item["sql"],
            description=item.get("description"),  # a null one is not stored
            author_id=item["author_id"],
            created_at=item["created_at"],
            updated_at=item["updated_at"],
        )


@dataclass(frozen=True)
class Changes:
    """What a change sets: a field left None keeps its value, but `description`, which is set
    (to None too) exactly when `sets_description`."""

    name: str | None = None
    sql: str | None = None
    description: str | None = None
    sets_description: bool = False


class SavedQueries:
    """Saved queries in the platform's table, under their tenant's partition (chalicelib/keys.py)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def create(self, saved: SavedQuery) -> None:
        fields = {
            "tenant_id": saved.tenant_id,
            "saved_query_id": saved.saved_query_id,
            "name": saved.name,
            "sql": saved.sql,
            "description": saved.description,
            "author_id": saved.author_id,
            "created_at": saved.created_at,
            "updated_at": saved.updated_at,
        }
        self._dynamodb.put_item(
            TableName=self._table,
            Item=to_item({**keys.saved_query(saved.tenant_id, saved.saved_query_id), **fields}),
            ConditionExpression="attribute_not_exists(PK)",
        )

    def get(self, tenant_id: str, saved_query_id: str) -> SavedQuery | None:
        item = get_item(self._dynamodb, self._table, keys.saved_query(tenant_id, saved_query_id))
        return SavedQuery.from_item(item) if item else None

    def page(self, tenant_id: str, limit: int, after: str | None) -> tuple[list[SavedQuery], str | None]:
        """Up to `limit` of the tenant's saved queries, newest first, after the id `after`; and the
        last id read if more may follow."""
        partition = keys.tenant_partition(tenant_id)
        items, last = query_page(
            self._dynamodb, self._table, partition, keys.SAVED_QUERY_PREFIX, limit, after, newest_first=True
        )
        return [SavedQuery.from_item(item) for item in items], last

    def update(self, tenant_id: str, saved_query_id: str, changes: Changes, updated_at: str) -> SavedQuery | None:
        """Apply `changes` and set `updated_at`, if the saved query still exists; it as it is now,
        else None."""
        sets: dict[str, str] = {"updated_at": updated_at}
        if changes.name is not None:
            sets["name"] = changes.name
        if changes.sql is not None:
            sets["sql"] = changes.sql
        removed: list[str] = []
        if changes.sets_description and changes.description is None:
            removed.append("description")  # null is not stored: the attribute goes
        elif changes.sets_description and changes.description is not None:
            sets["description"] = changes.description
        expression = "SET " + ", ".join(f"#{field} = :{field}" for field in sets)
        if removed:
            expression += " REMOVE " + ", ".join(f"#{field}" for field in removed)
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key=to_item(keys.saved_query(tenant_id, saved_query_id)),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={f"#{field}": field for field in [*sets, *removed]},
                ExpressionAttributeValues={f":{field}": value(given) for field, given in sets.items()},
                ReturnValues="ALL_NEW",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return SavedQuery.from_item(from_item(response["Attributes"]))

    def delete(self, tenant_id: str, saved_query_id: str) -> bool:
        """Remove it; False if it was gone already."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=to_item(keys.saved_query(tenant_id, saved_query_id)),
                ConditionExpression="attribute_exists(PK)",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True


class SavedQueryService:
    """The tenant's saved queries as API.md describes them: who may do what, and the SQL guard."""

    def __init__(self, store: SavedQueries, judge: Callable[[Caller, str], object]) -> None:
        """`judge`: raises InvalidSql or ForbiddenSql for SQL a query submitted now could not run
        (Queries.judge)."""
        self._store = store
        self._judge = judge

    def create(self, caller: Caller, name: str, sql: str, description: str | None) -> SavedQuery:
        """Save `sql` under `name` as the caller's, once the guard passes it."""
        caller.require(Action.SAVE_QUERY)
        self._judge(caller, sql)
        at = now()
        saved = SavedQuery(caller.tenant_id, new_id(), name.strip(), sql, description, caller.user_id, at, at)
        self._store.create(saved)
        return saved

    def get(self, caller: Caller, saved_query_id: str) -> SavedQuery:
        """The saved query of the caller's tenant with that id; 404 for any other id."""
        saved = self._store.get(caller.tenant_id, saved_query_id) if is_id(saved_query_id) else None
        if saved is None:
            raise SavedQueryNotFound()
        return saved

    def page(self, caller: Caller, limit: int, after: str | None) -> tuple[list[SavedQuery], str | None]:
        return self._store.page(caller.tenant_id, limit, after)

    def update(self, caller: Caller, saved_query_id: str, changes: Changes) -> SavedQuery:
        """Change it (its author, or an admin); new SQL must pass the guard."""
        self._changeable(caller, saved_query_id)
        if changes.sql is not None:
            self._judge(caller, changes.sql)
        named = replace(changes, name=changes.name.strip()) if changes.name is not None else changes
        updated = self._store.update(caller.tenant_id, saved_query_id, named, now())
        if updated is None:  # deleted meanwhile
            raise SavedQueryNotFound()
        return updated

    def delete(self, caller: Caller, saved_query_id: str) -> None:
        """Remove it (its author, or an admin)."""
        self._changeable(caller, saved_query_id)
        if not self._store.delete(caller.tenant_id, saved_query_id):
            raise SavedQueryNotFound()

    def _changeable(self, caller: Caller, saved_query_id: str) -> SavedQuery:
        saved = self.get(caller, saved_query_id)
        mine = saved.author_id == caller.user_id and caller.can(Action.SAVE_QUERY)
        if not (mine or caller.can(Action.CHANGE_ANY_SAVED_QUERY)):
            raise Forbidden(message="You may change only saved queries you wrote; an admin may change any.")
        return saved
