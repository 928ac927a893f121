"""What a query would cost before it runs: the bytes of the columns it reads, priced as Athena bills."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chalicelib.queries.usage import Allowance

MB = 1024**2
TB = 1024**4


@dataclass(frozen=True)
class Pricing:
    price_per_tb_usd: float
    minimum_billed_bytes: int

    def billed(self, scanned: int) -> int:
        """What Athena bills for scanning `scanned` bytes: whole MBs, at least its minimum."""
        return max(math.ceil(scanned / MB) * MB, self.minimum_billed_bytes)

    def cost_usd(self, scanned: int) -> float:
        return self.billed(scanned) / TB * self.price_per_tb_usd


@dataclass(frozen=True)
class Estimate:
    """A query's cost before it runs (POST /queries with `dry_run`)."""

    columns: dict[str, tuple[str, ...]]  # table → the columns the query reads of it
    bytes_to_scan: int
    pricing: Pricing
    allowance: Allowance

    @property
    def within_budget(self) -> bool:
        return self.allowance.allows(self.bytes_to_scan)

    def view(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "bytes_to_scan": self.bytes_to_scan,
            "billed_bytes": self.pricing.billed(self.bytes_to_scan),
            "estimated_cost_usd": round(self.pricing.cost_usd(self.bytes_to_scan), 10),
            "tables": sorted(self.columns),
            "columns": {table: sorted(columns) for table, columns in sorted(self.columns.items())},
            "within_budget": self.within_budget,
            "remaining_scan_bytes": self.allowance.remaining,
            "resets_at": self.allowance.month.resets_at,
        }
