"""A query and its result: rows page by page, the whole result as CSV, Arrow or pandas."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sdp.errors import QueryFailed
from sdp.models import Column, Query

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from sdp.client import Client

QUERY_WAIT_SECONDS = 20  # how long one GET /queries/{id} may wait for the end (the API allows 0-20)
PAGE_ROWS = 1000


class QueryResult:
    """A submitted query. `wait()` follows it to its end; then `columns`, `rows` and the downloads work."""

    def __init__(self, client: Client, query: Query) -> None:
        self.client = client
        self.query = query
        self._columns: list[Column] | None = None
        self._first_page: tuple[list[list[Any]], str | None] | None = None

    @property
    def query_id(self) -> str:
        return self.query.query_id

    def _fetch(self, **params: Any) -> dict[str, Any]:
        return self.client.call("GET", f"/queries/{self.query_id}", params=params).json()

    def _take(self, body: dict[str, Any]) -> None:
        self.query = Query.model_validate(body)
        if self.query.status == "SUCCEEDED":
            self._columns = [Column.model_validate(column) for column in body.get("columns", [])]
            self._first_page = (body.get("rows", []), body.get("next_token"))

    def wait(self) -> QueryResult:
        """Block until the query ends; raises `QueryFailed` if it FAILED or was CANCELLED."""
        while not self.query.finished or (self.query.status == "SUCCEEDED" and self._first_page is None):
            self._take(self._fetch(wait=QUERY_WAIT_SECONDS, max_rows=PAGE_ROWS))
        if self.query.status != "SUCCEEDED":
            raise QueryFailed(self.query)
        return self

    def cancel(self) -> Query:
        """Cancel the query if it is still queued or running."""
        self.query = self.client.cancel_query(self.query_id)
        return self.query

    @property
    def columns(self) -> list[Column]:
        self.wait()
        assert self._columns is not None
        return self._columns

    @property
    def rows(self) -> Iterator[list[Any]]:
        """Every row, fetching page after page as the iteration goes."""
        self.wait()
        assert self._first_page is not None
        rows, token = self._first_page
        yield from rows
        while token:
            page = self._fetch(max_rows=PAGE_ROWS, next_token=token)
            yield from page.get("rows", [])
            token = page.get("next_token")

    def csv_url(self) -> str:
        """A presigned URL of the whole result as CSV, with a header row."""
        self.wait()
        return str(self.client.call("GET", f"/queries/{self.query_id}/results.csv").json()["url"])

    def write_csv(self, target: IO[bytes]) -> int:
        """Stream the whole result as CSV into `target`; how many bytes."""
        return self.client.download(self.csv_url(), target)

    def to_csv(self, path: str | Path) -> Path:
        """Download the whole result as CSV to `path`."""
        return self.client.download_to(self.csv_url(), Path(path))

    def to_arrow(self) -> pyarrow.Table:
        """The whole result as an Arrow table, typed by the result's columns (needs `pip install .[arrow]`)."""
        try:
            import pyarrow
            from pyarrow import csv
        except ImportError as error:  # pragma: no cover - depends on the extras installed
            raise ImportError("to_arrow() needs pyarrow: pip install 'serverless-data-platform[arrow]'") from error
        types = {column.name: _arrow_type(pyarrow, column.type) for column in self.columns}
        with tempfile.TemporaryFile() as spool:
            self.write_csv(spool)
            spool.seek(0)
            return csv.read_csv(
                spool,
                convert_options=csv.ConvertOptions(
                    column_types=types,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                    true_values=["true"],
                    false_values=["false"],
                ),
            )

    def to_pandas(self) -> pandas.DataFrame:
        """The whole result as a pandas DataFrame (needs `pip install .[pandas]`)."""
        return self.to_arrow().to_pandas()


_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def _arrow_type(pa: Any, athena_type: str) -> Any:
    """Athena's type name as Arrow's; what has no column type of its own (arrays, maps, rows) stays text."""
    name = athena_type.lower()
    simple = {
        "boolean": pa.bool_(),
        "tinyint": pa.int8(),
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "real": pa.float32(),
        "float": pa.float32(),
        "double": pa.float64(),
        "date": pa.date32(),
    }
    if name in simple:
        return simple[name]
    if name.startswith("timestamp"):
        return pa.timestamp("ms")
    if decimal := _DECIMAL.fullmatch(name):
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    return pa.string()
