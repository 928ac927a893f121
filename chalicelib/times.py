"""Times as the API writes them: ISO 8601 in UTC, to the millisecond (shared/API.md)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    """The current time as API.md writes times: ISO 8601 UTC, milliseconds."""
    return iso_time(datetime.now(UTC))


def iso_time(at: datetime | float) -> str:
    """A time (or seconds since the epoch) as API.md writes times."""
    moment = at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_of(iso: str) -> float:
    """A time written by now() as seconds since the epoch."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
