"""Each tenant's query usage per calendar month (UTC) and its monthly scan budget.

Usage lives in one `USAGE#{yyyy-mm}` item per month: a query is counted in the transaction that
stores its job, the bytes it scanned in the one that writes its end (query/store.py), so neither
is counted twice. The budget is the tenant item's `monthly_scan_budget_bytes` (absent: none).
A query is refused before it runs when its estimate is more than what is left; queries running at
once are each checked against what was left when they started, so together they can pass the
budget by what they scan between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import batch_get, from_item, to_item, value
from chalicelib.errors import TooManyRequests
from chalicelib.times import iso_time

BUDGET = "monthly_scan_budget_bytes"  # the tenant item's attribute


@dataclass(frozen=True)
class Month:
    """A calendar month in UTC."""

    year: int
    month: int

    @classmethod
    def of(cls, at: datetime) -> Month:
        moment = at.astimezone(UTC)
        return cls(moment.year, moment.month)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def resets_at(self) -> str:
        """When the next month starts: usage counts from zero again."""
        following = datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=UTC)
        return iso_time(following)


@dataclass(frozen=True)
class Allowance:
    """What a tenant may still scan this month: None where it has no budget."""

    month: Month
    budget: int | None
    scanned: int

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else max(self.budget - self.scanned, 0)

    def allows(self, scan: int) -> bool:
        return self.remaining is None or scan <= self.remaining

    @classmethod
    def of(cls, tenant: dict[str, Any], usage: MonthUsage) -> Allowance:
        """What is left, by the tenant item (its budget) and the month's usage."""
        budget = tenant.get(BUDGET)
        return cls(usage.month, None if budget is None else int(budget), usage.bytes_scanned)


class BudgetExceeded(TooManyRequests):
    code = "budget_exceeded"

    def __init__(self, estimate: int, allowance: Allowance) -> None:
        remaining, resets_at = allowance.remaining, allowance.month.resets_at
        super().__init__(
            message=f"The query would scan about {_size(estimate)}; {_size(remaining or 0)} is left of this "
            f"month's scan budget, which resets at {resets_at}.",
        )
        self.details = {"remaining_scan_bytes": remaining, "resets_at": resets_at}


def _size(count: int) -> str:
    """Bytes as a person reads them: 148,093 bytes (145 KiB)."""
    scaled, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, larger
    return f"{count:,} bytes" if unit == "bytes" else f"{count:,} bytes ({scaled:.3g} {unit})"


@dataclass(frozen=True)
class MonthUsage:
    month: Month
    bytes_scanned: int
    query_count: int


class UsageStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def read(self, tenant_id: str, month: Month) -> tuple[dict[str, Any], MonthUsage]:
        """The tenant item (its counts, quotas and budget) and its usage in `month`, in one read."""
        tenant_key, usage_key = keys.tenant(tenant_id), keys.usage(tenant_id, month.key)
        items = {item["SK"]: item for item in batch_get(self._dynamodb, self._table, [tenant_key, usage_key])}
        used = items.get(usage_key["SK"], {})
        usage = MonthUsage(month, int(used.get("bytes_scanned", 0)), int(used.get("query_count", 0)))
        return items.get(tenant_key["SK"], {}), usage

    def allowance(self, tenant_id: str, month: Month) -> Allowance:
        return Allowance.of(*self.read(tenant_id, month))

    def set_budget(self, tenant_id: str, budget: int | None) -> dict[str, Any]:
        """Set (None: remove) the tenant's monthly scan budget; the tenant item as it is then."""
        update = f"SET {BUDGET} = :budget" if budget is not None else f"REMOVE {BUDGET}"
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key=to_item(keys.tenant(tenant_id)),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(PK)",
            ReturnValues="ALL_NEW",
            **({"ExpressionAttributeValues": {":budget": value(budget)}} if budget is not None else {}),
        )

        return from_item(response["Attributes"])


def counted(table: str, tenant_id: str, month: str, counter: str, amount: int) -> dict[str, Any]:
    """A transaction item adding `amount` to one of the month's counters."""
    return {
        "Update": {
            "TableName": table,
            "Key": to_item(keys.usage(tenant_id, month)),
            "UpdateExpression": f"ADD {counter} :amount",
            "ExpressionAttributeValues": {":amount": value(amount)},
        }
    }
