"""The `sdp` command: the platform from a terminal. Data goes to stdout, progress and errors to stderr.

Exit codes: 0 success, 1 an API, network, ingest or query error, 2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from sdp.client import DEFAULT_URL, Client, __version__
from sdp.errors import (
    ApiError,
    BudgetExceeded,
    FileFailed,
    NotFound,
    PermissionDenied,
    SdpError,
    SqlRefused,
    size_text,
    utc_text,
)
from sdp.models import Column, Estimate, File, Member, Record, SavedQuery, TableDetail

FORMATS = ("table", "csv", "json")
ROLES = ("viewer", "analyst", "admin")
FILE_STATUSES = ("UPLOADING", "PROCESSING", "READY", "FAILED")
FILE_FORMATS = ("csv", "tsv", "jsonl", "parquet")
# A terminal table shows one page; the whole result goes to a file (--output) or a pipe (CSV).
TABLE_ROWS = 1000

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out.width = 10_000  # piped: each row on one line, never folded at 80 columns
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Interrupted(Exception):
    """Ctrl-C, with what it left behind: said on stderr, exit code 130."""


class Session:
    """What every command shares: the API's URL and, made when first needed, the client with the saved login."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client.from_profile(self.url)
        return self._client


pass_session = click.make_pass_decorator(Session)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--url",
    envvar="SDP_URL",
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    help="The platform's API.",
)
@click.version_option(__version__, prog_name="sdp")
@click.pass_context
def cli(context: click.Context, url: str) -> None:
    """Upload data files, get typed tables, query them with SQL."""
    context.obj = Session(url)


# -- output helpers ----------------------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    out.out(json.dumps(_plain(value), indent=2, ensure_ascii=False), highlight=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.model_dump(mode="json", exclude_none=False)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, name: str, shrink: str | None = None) -> None:
    """Rows under headers, one line each. On a terminal too narrow, only the `shrink` column gives way
    (its text ends in "…"); a pipe gets every character."""
    cells = [[escape("" if cell is None else str(cell)) for cell in row] for row in rows]
    if not cells:
        err.print(f"No {name}.")
        return
    widths = [max(len(header), *(len(row[index]) for row in cells)) for index, header in enumerate(headers)]
    gaps = 2 * (len(headers) - 1)
    table = Table(header_style="bold", box=None, pad_edge=False)
    for header, width in zip(headers, widths, strict=True):
        if header == shrink:
            room = out.width - gaps - (sum(widths) - width)
            table.add_column(header, overflow="ellipsis", no_wrap=True, max_width=max(len(header), room))
        else:
            table.add_column(header, no_wrap=True, min_width=width)
    for row in cells:
        table.add_row(*row)
    out.print(table)


def _column_rows(columns: Iterable[Column]) -> Iterator[list[str]]:
    return ([column.name, column.type, column.original_name or ""] for column in columns)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _columns_text(record: File) -> str:
    return ", ".join(f"{column.name} {column.type}" for column in record.columns)


def _names(columns: Iterable[str]) -> str:
    return ", ".join(columns)


def _read_password(prompt: str, from_stdin: bool, *, confirm: bool = False) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("--password-stdin: nothing came on standard input.")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise click.UsageError("No terminal to ask for the password: pipe it in with --password-stdin.")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)


# -- accounts ----------------------------------------------------------------------------------------------------


@cli.command()
@click.option("--email", prompt=True, prompt_required=True, help="Your e-mail address.")
@click.option("--tenant-name", help="Your organisation's name (default: the e-mail address).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_session
def signup(session: Session, email: str, tenant_name: str | None, password_stdin: bool) -> None:
    """Create an account and a tenant, with you as its admin; then log in."""
    password = _read_password("Choose a password", password_stdin, confirm=True)
    client = session.client
    created = client.signup(email, password, tenant_name)
    if created.confirmation_required:
        err.print(
            f"Signed up {escape(email)}. Enter the code e-mailed to you with [bold]sdp confirm[/], then sdp login."
        )
        return
    me = client.login(email, password)
    err.print(
        f"Signed up and logged in to {escape(client.url)} as {escape(me.email)}, admin of {escape(me.tenant_name)}."
    )


@cli.command()
@click.option("--email", prompt=True, help="The address you signed up with.")
@click.option("--code", prompt=True, help="The code from the e-mail.")
@pass_session
def confirm(session: Session, email: str, code: str) -> None:
    """Confirm a sign-up with the e-mailed code (in AWS; locally sign-ups need none)."""
    session.client.confirm(email, code)
    err.print("Confirmed: now run sdp login.")


@cli.command()
@click.option("--email", prompt=True, help="Your e-mail address.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_session
def login(session: Session, email: str, password_stdin: bool) -> None:
    """Log in; the login is saved for this URL (in ~/.config/sdp, readable by you only)."""
    password = _read_password("Password", password_stdin)
    client = session.client
    try:
        me = client.login(email, password)
    except ApiError as error:
        if error.code != "new_password_required":
            raise
        err.print("This is your first login: choose your own password.")
        me = client.login(email, password, new_password=_read_password("New password", False, confirm=True))
    err.print(f"Logged in to {escape(client.url)} as {escape(me.email)} ({me.role} of {escape(me.tenant_name)}).")


@cli.command()
@pass_session
def logout(session: Session) -> None:
    """Forget the saved login for this URL."""
    if session.client.logout():
        err.print(f"Logged out of {escape(session.client.url)}.")
    else:
        err.print(f"You were not logged in to {escape(session.client.url)}.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def whoami(session: Session, as_json: bool) -> None:
    """Who you are logged in as, in which tenant, with which role."""
    me = session.client.me()
    if as_json:
        _print_json(me)
        return
    out.print(f"{escape(me.email)} ({me.role}) in {escape(me.tenant_name)}")
    out.print(f"user {me.user_id}, tenant {me.tenant_id}, at {escape(session.client.url)}")


# -- files and tables --------------------------------------------------------------------------------------------


def _upload_one(client: Client, path: Path, name: str | None, wait: bool, table: str | None) -> File:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    tasks: list[TaskID] = []

    def advance(sent: int, total: int) -> None:
        if not tasks:  # the bar appears with the first bytes (or those a resumed upload has already sent)
            tasks.append(progress.add_task(escape(name or path.name), total=total, completed=sent))
        progress.update(tasks[0], completed=sent)

    with progress:
        try:
            record = client.upload(path, name, wait=False, progress=advance, table=table)
        except KeyboardInterrupt:
            raise Interrupted(
                f"Stopped sending {path.name}. Run the same sdp upload again: "
                "a file over 100 MiB resumes where it stopped."
            ) from None
    if not wait:
        return record
    with err.status(f"Ingesting {escape(record.name)}…"):
        try:
            return client.wait_for_file(record.file_id)
        except KeyboardInterrupt:
            raise Interrupted(
                f"Stopped waiting: {record.name} is uploaded and goes on being ingested (sdp show {record.file_id})."
            ) from None


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The file's name on the platform (one file only; default: its own name).")
@click.option(
    "--table",
    "table",
    metavar="TABLE",
    help="Add every file to this table (made from the first if you have none of that name; "
    "a-z, 0-9 and _, not starting with a digit).",
)
@click.option("--no-wait", is_flag=True, help="Return once the bytes are sent, without waiting for the table.")
@pass_session
def upload(session: Session, files: tuple[Path, ...], name: str | None, table: str | None, no_wait: bool) -> None:
    """Upload files: each becomes a table, or with --table is added to one. An interrupted large upload
    resumes when run again."""
    if name and len(files) > 1:
        raise click.UsageError("--name names one file: give one FILE with it.")
    failed = 0
    for path in files:
        try:
            record = _upload_one(session.client, path, name, not no_wait, table)
        except SdpError as error:  # this file's problem: the others are still sent
            failed += 1
            named = f"{error.file.name} ({error.file.file_id})" if isinstance(error, FileFailed) else path.name
            _report(error, prefix=f"{named}: ")
            if error.code == "invalid_table_name":
                break  # the name is refused for every file alike: nothing was stored, none is sent
            continue
        _uploaded(record)
        out.print(record.file_id)
    if failed:
        raise SystemExit(1)


def _uploaded(record: File) -> None:
    """The line that says what became of an uploaded file (and its notes and drift below)."""
    if record.status != "READY":
        into = f", into table {record.target_table}" if record.target_table else ""
        err.print(f"{escape(record.name)} uploaded as {record.file_id} ({record.status}{into})")
        return
    rows = record.row_count or 0
    added = f"+{_count(rows, 'row')}" if record.target_table else _count(rows, "row")
    err.print(
        f"[green]✓[/] {escape(record.name)} → table [bold]{record.table}[/]: "
        f"{added}, {_count(len(record.columns), 'column')} ({escape(_columns_text(record))})"
    )
    for note in record.notes:
        err.print(f"  note: {escape(note)}")
    if record.target_table and record.drift is not None:
        if record.drift.added_columns:
            err.print(f"  columns added: {escape(_names(record.drift.added_columns))}")
        if record.drift.missing_columns:
            err.print(f"  columns missing (NULL in its rows): {escape(_names(record.drift.missing_columns))}")


def _search_options(*, files: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--search and --column-type (and for files --status and --format): the API's search terms."""
    what = "the file's name, its table's or a column's" if files else "the table's name or a column's"
    options = [
        click.option("--search", "q", metavar="TEXT", help=f"Those with TEXT in {what} (any case)."),
        click.option(
            "--column-type", metavar="TYPE", help="Those with a column of this type, whole (bigint, decimal(18,2))."
        ),
    ]
    if files:
        options += [
            click.option(
                "--status", type=click.Choice(FILE_STATUSES, case_sensitive=False), help="Those in this status."
            ),
            click.option("--format", "file_format", type=click.Choice(FILE_FORMATS), help="Those of this format."),
        ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@cli.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many files, newest first.")
@_search_options(files=True)
@pass_session
def list_files(
    session: Session,
    as_json: bool,
    limit: int | None,
    q: str | None,
    column_type: str | None,
    status: str | None,
    file_format: str | None,
) -> None:
    """List your tenant's files, newest first; with a search, those that meet every term given."""
    found = session.client.files(
        page_size=min(limit or 1000, 1000), q=q, status=status, format=file_format, column_type=column_type
    )
    files = _take(found, limit)
    if as_json:
        _print_json(files)
        return
    searched = any(term is not None for term in (q, column_type, status, file_format))
    _table(
        ["FILE ID", "NAME", "STATUS", "SIZE", "ROWS", "TABLE", "CREATED (UTC)"],
        (
            [f.file_id, f.name, f.status, decimal(f.size), f.row_count, f.table or "", _when(f.created_at)]
            for f in files
        ),
        name="files match" if searched else "files",
        shrink="NAME",
    )


def _take(items: Iterable[Any], limit: int | None) -> list[Any]:
    """The first `limit` items (all without one), asking the iterator for no more: no page past them."""
    return list(itertools.islice(items, limit))


@cli.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def show(session: Session, file_id: str, as_json: bool) -> None:
    """Show one file: its status, table, columns, or why it failed."""
    record = session.client.file(file_id)
    if as_json:
        _print_json(record)
        return
    fields = [
        ("file id", record.file_id),
        ("name", record.name),
        ("status", record.status),
        ("size", decimal(record.size) + (f" ({record.size:,} bytes)" if record.size >= 1000 else "")),
        ("format", " + ".join(filter(None, [record.format, record.compression]))),
        ("table", record.table),
        ("into", record.target_table if record.target_table != record.table else None),
        ("rows", f"{record.row_count:,}" if record.row_count is not None else None),
        ("sha256", record.sha256),
        ("created", _when(record.created_at)),
        ("updated", _when(record.updated_at)),
    ]
    for label, value in fields:
        if value:
            out.print(f"{label:>8}  {escape(str(value))}")
    if record.error:
        out.print(f"{'error':>8}  {record.error.code}: {escape(record.error.message)}")
    for note in record.notes:
        out.print(f"{'note':>8}  {escape(note)}")
    if record.target_table and record.drift is not None:
        for label, names in (("added", record.drift.added_columns), ("missing", record.drift.missing_columns)):
            if names:
                out.print(f"{label:>8}  {escape(_names(names))}")
    if record.columns:
        out.print()
        _table(["COLUMN", "TYPE", "IN THE FILE"], _column_rows(record.columns), name="columns", shrink="TYPE")


@cli.command()
@click.argument("file_ids", nargs=-1, required=True)
@pass_session
def rm(session: Session, file_ids: tuple[str, ...]) -> None:
    """Delete files: their bytes, tables and records."""
    failed = 0
    for file_id in file_ids:
        try:
            session.client.delete_file(file_id)
        except ApiError as error:
            failed += 1
            _report(error, prefix=f"{file_id}: ")
            continue
        err.print(f"Deleted {file_id}.")
    if failed:
        raise SystemExit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_search_options(files=False)
@pass_session
def tables(session: Session, as_json: bool, q: str | None, column_type: str | None) -> None:
    """List the tables you can query; with a search, those that meet every term given."""
    found = list(session.client.tables(q=q, column_type=column_type))
    if as_json:
        _print_json(found)
        return
    _table(
        ["TABLE", "ROWS", "COLUMNS", "FILES", "LATEST FILE ID"],
        ([t.table, f"{t.row_count:,}", len(t.columns), f"{t.file_count:,}", t.file_id] for t in found),
        name="tables match" if q is not None or column_type is not None else "tables",
    )


@cli.command()
@click.argument("table")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the table, all its files, its schema history.")
@pass_session
def describe(session: Session, table: str, as_json: bool) -> None:
    """Show a table: its columns, its files (oldest first, with the columns each added or lacked) and
    its schema history (which file added each column, and when)."""
    found = session.client.table(table)
    if as_json:
        _print_json(found)
        return
    _describe(found)


def _describe(found: TableDetail) -> None:
    out.print(
        f"[bold]{escape(found.table)}[/]: {_count(found.row_count, 'row')} in {_count(found.file_count, 'file')}, "
        f"{_count(len(found.columns), 'column')}"
    )
    _table(["COLUMN", "TYPE", "IN THE FILE"], _column_rows(found.columns), name="columns", shrink="TYPE")
    out.print()
    out.print(f"[bold]Files[/] ({len(found.files):,}, oldest first):")
    _table(
        ["NAME", "FILE ID", "ROWS", "ADDED (UTC)", "COLUMNS ADDED", "COLUMNS MISSING"],
        (
            [
                f.name,
                f.file_id,
                f"{f.row_count:,}",
                _when(f.added_at),
                _names(f.added_columns),
                _names(f.missing_columns),
            ]
            for f in found.files
        ),
        name="files",
        shrink="NAME",
    )
    out.print()
    out.print("[bold]Schema history[/] (columns in the order they were added):")
    names = {f.file_id: f.name for f in found.files}
    _table(
        ["COLUMN", "TYPE", "ADDED BY FILE", "FILE ID", "WHEN (UTC)"],
        (
            [c.column, c.type, names.get(c.file_id, "(deleted)"), c.file_id, _when(c.added_at)]
            for c in found.schema_history
        ),
        name="schema history",
        shrink="TYPE",
    )


# -- queries -----------------------------------------------------------------------------------------------------


def _result_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--format, --output and --no-wait: where a query's result goes (`sdp query`, `sdp saved run`)."""
    options = [
        click.option(
            "--format",
            "output_format",
            type=click.Choice(FORMATS),
            help="table for a terminal, csv when piped (default); json prints one object per row.",
        ),
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="Write the whole result to this file.",
        ),
        click.option("--no-wait", is_flag=True, help="Print the query id and return at once."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@click.argument("sql", required=False)
@click.option(
    "-f", "--file", "sql_file", type=click.File("r", encoding="utf-8"), help="Read the SQL from a file (- for stdin)."
)
@_result_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Run nothing: say what the query would scan and cost, and whether it fits the scan budget.",
)
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print the estimate as JSON.")
@pass_session
def query(
    session: Session,
    sql: str | None,
    sql_file: Any,
    output_format: str | None,
    output: Path | None,
    no_wait: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run a SQL query (Athena's dialect) over your tables; with --dry-run, estimate it instead."""
    if (sql is None) == (sql_file is None):
        raise click.UsageError("Give the SQL as an argument or with -f FILE, one of the two.")
    if dry_run and (output_format or output or no_wait):
        raise click.UsageError("--dry-run runs nothing: it takes no --format, --output or --no-wait (--json instead).")
    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run; a result is printed as JSON with --format json.")
    text = sql if sql is not None else sql_file.read()
    client = session.client
    try:
        if dry_run:
            _print_estimate(client.estimate(text), as_json)
            return
        result = client.query(text, wait=False)
    except SqlRefused as refused:
        _report(refused)
        _point_at(text, refused)
        raise SystemExit(1) from None
    except BudgetExceeded as over:
        _refused_for_budget(over)
    _follow(result, output_format, output, no_wait, f"Running query {result.query_id}…")


def _follow(result: Any, output_format: str | None, output: Path | None, no_wait: bool, running: str) -> None:
    """A submitted query: its id alone (`no_wait`), else its result where it was asked for, then its
    stats (and whether an earlier result was reused) on stderr."""
    if no_wait:
        out.print(result.query_id)
        return
    try:
        with err.status(escape(running)):
            result.wait()
    except KeyboardInterrupt:
        result.cancel()
        raise Interrupted(f"Cancelled query {result.query_id}.") from None
    fmt = output_format or ("csv" if output is not None or not out.is_terminal else "table")
    if output is not None:
        _write_result(result, fmt, output)
    else:
        _print_result(result, fmt)
    if result.query.reused:
        err.print("Reused the result of an earlier identical query: nothing was scanned.", style="dim")
    stats = result.query.stats
    if stats is not None:
        err.print(
            f"{_count(stats.rows, 'row')} · {stats.runtime_ms / 1000:.2f} s · {decimal(stats.bytes_scanned)} scanned",
            style="dim",
        )


def _refused_for_budget(over: BudgetExceeded) -> NoReturn:
    _report(over)
    err.print(
        "`sdp query --dry-run` estimates a query without running it; `sdp usage` shows this month's scans, "
        "and an admin can raise the budget with `sdp budget set`.",
        style="dim",
    )
    raise SystemExit(1)


def _usd(amount: float) -> str:
    """Dollars with enough decimals to show a small amount's first two digits: $0.000048, $1.25."""
    if amount <= 0:
        return "$0.00"
    if amount >= 0.01:
        return f"${amount:,.2f}"
    places = -math.floor(math.log10(amount)) + 1
    return f"${amount:.{places}f}"


def _print_estimate(estimate: Estimate, as_json: bool) -> None:
    if as_json:
        _print_json(estimate)
        return
    if estimate.remaining_scan_bytes is None:
        budget = "no monthly scan budget set"
    elif estimate.within_budget:
        budget = f"within budget: {size_text(estimate.remaining_scan_bytes)} left until {utc_text(estimate.resets_at)}"
    else:
        budget = (
            f"OVER BUDGET: {size_text(estimate.remaining_scan_bytes)} left until {utc_text(estimate.resets_at)}; "
            "running it would be refused"
        )
    columns = "; ".join(f"{table}: {_names(names)}" for table, names in sorted(estimate.columns.items()))
    fields = [
        ("bytes to scan", size_text(estimate.bytes_to_scan)),
        ("billed", f"{size_text(estimate.billed_bytes)}: whole MiB, 10 MiB at least"),
        ("estimated cost", _usd(estimate.estimated_cost_usd)),
        ("tables", _names(estimate.tables) or "(none)"),
        ("columns", columns or "(none)"),
        ("budget", budget),
    ]
    for label, value in fields:
        out.print(f"{label:>14}  {escape(value)}")
    err.print("Dry run: nothing ran.", style="dim")


def _write_result(result: Any, fmt: str, output: Path) -> None:
    if fmt == "json":
        partial = output.with_name(f".{output.name}.part")
        with partial.open("w", encoding="utf-8") as target:
            _json_rows(result, target.write)
        partial.replace(output)
    else:
        result.to_csv(output)
    err.print(f"Wrote {output}.")


def _print_result(result: Any, fmt: str) -> None:
    if fmt == "csv":
        sys.stdout.flush()
        result.write_csv(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    elif fmt == "json":
        _json_rows(result, lambda line: out.out(line, end="", highlight=False))
    else:
        names = [column.name for column in result.columns]
        rows = _take(result.rows, TABLE_ROWS)
        _table(names, ([_cell(value) for value in row] for row in rows), name="rows")
        total = result.query.stats.rows if result.query.stats else len(rows)
        if total > len(rows):
            err.print(f"Showing the first {len(rows):,} of {total:,} rows: --output FILE writes them all.")


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _json_rows(result: Any, write: Callable[[str], Any]) -> None:
    names = [column.name for column in result.columns]
    for row in result.rows:
        write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False) + "\n")


def _point_at(sql: str, refused: SqlRefused) -> None:
    """Show the line the error is on, marking the word that ends at its column (where the parser stopped)."""
    lines = sql.splitlines() or [""]
    if refused.line is None or not 1 <= refused.line <= len(lines):
        return
    line = lines[refused.line - 1]
    end = max(1, min(refused.column or 1, len(line)))
    start = end
    while (
        start > 1
        and (line[start - 2].isalnum() or line[start - 2] == "_")
        and (line[end - 1].isalnum() or line[end - 1] == "_")
    ):
        start -= 1
    gutter = f"{refused.line} | "
    err.print(f"{gutter}{escape(line)}")
    err.print(" " * (len(gutter) + start - 1) + "[red]" + "^" * (end - start + 1) + "[/]")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many, newest first.")
@pass_session
def queries(session: Session, as_json: bool, limit: int) -> None:
    """List your queries, newest first."""
    found = _take(session.client.queries(page_size=min(limit, 1000)), limit)
    if as_json:
        _print_json(found)
        return
    _table(
        ["QUERY ID", "STATUS", "SUBMITTED (UTC)", "ROWS", "SQL"],
        (
            [q.query_id, q.status, _when(q.submitted_at), q.stats.rows if q.stats else "", " ".join(q.sql.split())]
            for q in found
        ),
        name="queries",
        shrink="SQL",
    )


@cli.command()
@click.argument("query_ids", nargs=-1, required=True)
@pass_session
def cancel(session: Session, query_ids: tuple[str, ...]) -> None:
    """Cancel queued or running queries."""
    for query_id in query_ids:
        record = session.client.cancel_query(query_id)
        if record.status == "CANCELLED":
            err.print(f"Cancelled {query_id}.")
        else:
            err.print(f"{query_id} had already ended: {record.status}.")


# -- members -----------------------------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def members(context: click.Context, as_json: bool) -> None:
    """List your tenant's members; add, re-role or remove them (admins)."""
    if context.invoked_subcommand is not None:
        return
    found = context.find_object(Session).client.members()
    if as_json:
        _print_json(found)
        return
    _table(["USER ID", "EMAIL", "ROLE"], ([m.user_id, m.email, m.role] for m in found), name="members", shrink="EMAIL")


def _member(client: Client, who: str) -> Member:
    """A member by user id or e-mail address."""
    for member in client.members():
        if who in (member.user_id, member.email) or who.lower() == member.email.lower():
            return member
    raise NotFound(404, "member_not_found", f"{who} is not a member of your tenant: `sdp members` lists them.", None)


@members.command(name="add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the member may do.")
@click.option("--password-stdin", is_flag=True, help="Locally: the new account's password, from standard input.")
@pass_session
def add_member(session: Session, email: str, role: str, password_stdin: bool) -> None:
    """Add a member. In AWS a new account gets an e-mailed invitation; locally give it a password."""
    password = _read_password("The new member's password", True) if password_stdin else None
    try:
        member = session.client.add_member(email, role, password)  # type: ignore[arg-type]
    except ApiError as error:
        if error.code != "password_required" or password is not None or not sys.stdin.isatty():
            raise
        member = session.client.add_member(
            email, role, _read_password("The new member's password", False, confirm=True)
        )  # type: ignore[arg-type]
    err.print(f"Added {escape(member.email)} as {member.role} ({member.user_id}).")


@members.command(name="role")
@click.argument("member")
@click.argument("role", type=click.Choice(ROLES))
@pass_session
def change_role(session: Session, member: str, role: str) -> None:
    """Change a member's role (MEMBER: user id or e-mail)."""
    changed = session.client.change_role(_member(session.client, member).user_id, role)  # type: ignore[arg-type]
    err.print(f"{escape(changed.email)} is now {changed.role}.")


@members.command(name="rm")
@click.argument("member_ids", nargs=-1, required=True)
@pass_session
def remove_member(session: Session, member_ids: tuple[str, ...]) -> None:
    """Remove members from the tenant (MEMBER: user id or e-mail)."""
    for who in member_ids:
        member = _member(session.client, who)
        session.client.remove_member(member.user_id)
        err.print(f"Removed {escape(member.email)}.")


# -- usage and the scan budget -----------------------------------------------------------------------------------

_SIZE = re.compile(r"\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[a-z]*)\s*", re.IGNORECASE)
# Decimal units as rich prints sizes (kB, MB, GB…) and binary ones (KiB, MiB, GiB…); a bare number is bytes.
_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1} | {
    unit: scale
    for power, prefix in enumerate("kmgtpe", start=1)
    for unit, scale in ((f"{prefix}b", 1000**power), (f"{prefix}ib", 1024**power))
}


def parse_size(text: str) -> int:
    """`50GB`, `1.5TiB`, `500 MB`, `1000000` as bytes (rounded down to a whole byte); ValueError otherwise."""
    matched = _SIZE.fullmatch(text)
    unit = matched.group("unit").lower() if matched else None
    if matched is None or unit not in _UNITS:
        raise ValueError(text)
    return int(Decimal(matched.group("number")) * _UNITS[unit])


class ScanBudget(click.ParamType):
    """A monthly scan budget on the command line: a size (`50GB`, `1.5TiB`, bytes) or `none`."""

    name = "BYTES|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value)
        if text.strip().lower() == "none":
            return None
        try:
            return parse_size(text)
        except ValueError:
            self.fail(
                f"{text!r} is not a size: give bytes (50000000000), a size with its unit "
                "(50GB, 1.5TiB, 500MiB) or none for no budget.",
                param,
                ctx,
            )


def _left(limit: int, used: int) -> int:
    return max(0, limit - used)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def usage(session: Session, as_json: bool) -> None:
    """Your tenant's storage against its quotas, and this month's queries against its scan budget."""
    found = session.client.usage()
    if as_json:
        _print_json(found)
        return
    budget, remaining = found.monthly_scan_budget_bytes, found.remaining_scan_bytes
    _table(
        ["USAGE", "USED", "LIMIT", "LEFT"],
        [
            [
                "storage",
                decimal(found.bytes_used),
                decimal(found.quota_bytes),
                decimal(_left(found.quota_bytes, found.bytes_used)),
            ],
            [
                "files",
                f"{found.file_count:,}",
                f"{found.quota_files:,}",
                f"{_left(found.quota_files, found.file_count):,}",
            ],
            [
                f"scanned in {found.month}",
                decimal(found.bytes_scanned),
                decimal(budget) if budget is not None else "no budget",
                decimal(remaining) if remaining is not None else "",
            ],
            [f"queries in {found.month}", f"{found.query_count:,}", "", ""],
        ],
        name="usage",
    )
    out.print(f"The month's scans and queries count from zero again {utc_text(found.resets_at)}.")


@cli.group()
def budget() -> None:
    """The tenant's monthly scan budget: queries that would scan more than is left of it are refused."""


@budget.command(name="set")
@click.argument("size", metavar="BYTES|none", type=ScanBudget())
@pass_session
def set_budget(session: Session, size: int | None) -> None:
    """Set the monthly scan budget (admins): a size such as 50GB, 1.5TiB or 1000000 (bytes), or none
    to remove it. Sizes in kB, MB, GB, TB are powers of 1000; in KiB, MiB, GiB, TiB powers of 1024."""
    try:
        tenant = session.client.set_budget(size)
    except PermissionDenied as error:
        if error.code != "forbidden":
            raise
        raise PermissionDenied(
            error.status,
            error.code,
            "Only an admin can set the tenant's scan budget: `sdp members` lists your tenant's admins.",
            error.request_id,
        ) from None
    if tenant.monthly_scan_budget_bytes is None:
        err.print(f"Removed the monthly scan budget of {escape(tenant.name)}: queries are not held to one.")
    else:
        err.print(
            f"The monthly scan budget of {escape(tenant.name)} is now {size_text(tenant.monthly_scan_budget_bytes)}."
        )


# -- saved queries -----------------------------------------------------------------------------------------------


@cli.group()
def saved() -> None:
    """Queries saved under a name, for everyone in your tenant to list, show and run."""


def _authors(client: Client) -> dict[str, str]:
    """Each member's e-mail address by user id (none if the members cannot be listed)."""
    try:
        return {member.user_id: member.email for member in client.members()}
    except ApiError:
        return {}


class _SavedQueries:
    """The tenant's saved queries, listed once, to find one by its id or by its name."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._listed: list[SavedQuery] | None = None

    @property
    def listed(self) -> list[SavedQuery]:
        if self._listed is None:
            self._listed = list(self.client.saved_queries())
        return self._listed

    def find(self, id_or_name: str) -> SavedQuery:
        """The saved query with this id, else the one with exactly this name; NotFound when none has it,
        an `ambiguous_name` error naming each when several have that name."""
        for entry in self.listed:
            if entry.saved_query_id == id_or_name:
                return entry
        named = [entry for entry in self.listed if entry.name == id_or_name]
        if len(named) == 1:
            return named[0]
        if not named:
            raise NotFound(
                404,
                "saved_query_not_found",
                f"No saved query has the id or name {id_or_name!r}: `sdp saved ls` lists them.",
                None,
            )
        authors = _authors(self.client)
        each = "; ".join(
            f"{entry.saved_query_id} (by {authors.get(entry.author_id, entry.author_id)}, "
            f"updated {_when(entry.updated_at)})"
            for entry in named
        )
        raise SdpError(
            f"{len(named)} saved queries are named {id_or_name!r}: {each}. Give the id of the one you mean.",
            code="ambiguous_name",
        )

    def forget(self, entry: SavedQuery) -> None:
        if self._listed is not None:
            self._listed = [kept for kept in self._listed if kept.saved_query_id != entry.saved_query_id]


def _forbidden(error: PermissionDenied, message: str) -> PermissionDenied:
    """A 403 `forbidden` told in the command's words (another 403, such as no_tenant, keeps its own)."""
    if error.code != "forbidden":
        return error
    return PermissionDenied(error.status, error.code, message, error.request_id)


@saved.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def list_saved(session: Session, as_json: bool) -> None:
    """List your tenant's saved queries, newest first."""
    found = list(session.client.saved_queries())
    if as_json:
        _print_json(found)
        return
    authors = _authors(session.client) if found else {}
    _table(
        ["ID", "NAME", "AUTHOR", "UPDATED (UTC)"],
        ([s.saved_query_id, s.name, authors.get(s.author_id, s.author_id), _when(s.updated_at)] for s in found),
        name="saved queries",
        shrink="NAME",
    )


@saved.command(name="save")
@click.argument("name")
@click.argument("sql", required=False)
@click.option(
    "-f", "--file", "sql_file", type=click.File("r", encoding="utf-8"), help="Read the SQL from a file (- for stdin)."
)
@click.option("--description", help="What the query is for (at most 2,000 characters).")
@pass_session
def save_query(session: Session, name: str, sql: str | None, sql_file: Any, description: str | None) -> None:
    """Save SQL under NAME for everyone in your tenant (analysts and admins); prints its id."""
    if (sql is None) == (sql_file is None):
        raise click.UsageError("Give the SQL as an argument or with -f FILE, one of the two.")
    text = sql if sql is not None else sql_file.read()
    try:
        record = session.client.save_query(name, text, description)
    except SqlRefused as refused:
        _report(refused)
        _point_at(text, refused)
        raise SystemExit(1) from None
    except PermissionDenied as error:
        raise _forbidden(
            error, "Only analysts and admins can save queries: a viewer can list, show and run them."
        ) from None
    err.print(f"Saved {escape(record.name)!r} as {record.saved_query_id}.")
    out.print(record.saved_query_id)


@saved.command(name="show")
@click.argument("id_or_name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def show_saved(session: Session, id_or_name: str, as_json: bool) -> None:
    """Show a saved query (ID_OR_NAME: its id, or its name if no other has it) and its SQL."""
    record = _SavedQueries(session.client).find(id_or_name)
    if as_json:
        _print_json(record)
        return
    author = _authors(session.client).get(record.author_id)
    fields = [
        ("id", record.saved_query_id),
        ("name", record.name),
        ("description", record.description),
        ("author", f"{author} ({record.author_id})" if author else record.author_id),
        ("created", _when(record.created_at)),
        ("updated", _when(record.updated_at)),
    ]
    for label, value in fields:
        if value:
            out.print(f"{label:>11}  {escape(value)}")
    out.print()
    out.print(escape(record.sql))


@saved.command(name="run")
@click.argument("id_or_name")
@_result_options
@pass_session
def run_saved(session: Session, id_or_name: str, output_format: str | None, output: Path | None, no_wait: bool) -> None:
    """Run a saved query (ID_OR_NAME: its id, or its name if no other has it); the result as `sdp query`
    prints it."""
    record = _SavedQueries(session.client).find(id_or_name)
    try:
        result = session.client.run_saved_query(record.saved_query_id, wait=False)
    except SqlRefused as refused:
        _report(refused, prefix=f"{record.name}: ")
        _point_at(record.sql, refused)
        raise SystemExit(1) from None
    except BudgetExceeded as over:
        _refused_for_budget(over)
    _follow(result, output_format, output, no_wait, f"Running {record.name!r} as query {result.query_id}…")


@saved.command(name="rm")
@click.argument("ids_or_names", nargs=-1, required=True)
@pass_session
def remove_saved(session: Session, ids_or_names: tuple[str, ...]) -> None:
    """Delete saved queries (each an id, or a name no other has), as their author or an admin."""
    found = _SavedQueries(session.client)
    failed = 0
    for id_or_name in ids_or_names:
        try:
            record = found.find(id_or_name)
            session.client.delete_saved_query(record.saved_query_id)
        except PermissionDenied as error:
            failed += 1
            refused = _forbidden(error, "Only its author or an admin can delete a saved query.")
            _report(refused, prefix=f"{id_or_name}: ")
            continue
        except SdpError as error:
            failed += 1
            _report(error, prefix=f"{id_or_name}: ")
            continue
        found.forget(record)
        err.print(f"Deleted {escape(record.name)!r} ({record.saved_query_id}).")
    if failed:
        raise SystemExit(1)


# -- running -----------------------------------------------------------------------------------------------------


def _report(error: SdpError, prefix: str = "") -> None:
    request = f" (request id {error.request_id})" if getattr(error, "request_id", None) else ""
    err.print(f"[red]error:[/] {escape(prefix)}{error.code}: {escape(error.message)}{request}")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console script: run a command and turn whatever ends it into a message and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    code = 0
    try:  # the command run directly rather than through cli.main(), which turns a closed pipe into exit 1
        with cli.make_context("sdp", args) as context:
            cli.invoke(context)
    except click.exceptions.Exit as done:  # --help, --version
        code = done.exit_code
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except Interrupted as interrupted:
        err.print(str(interrupted))
        code = 130
    except click.Abort:  # a prompt met Ctrl-C on a terminal, or the end of input without one
        if sys.stdin.isatty():
            err.print("Interrupted.")
            code = 130
        else:
            err.print("Error: no terminal to answer a prompt on: give its option instead (see --help).")
            code = 2
    except KeyboardInterrupt:
        err.print("Interrupted.")
        code = 130
    except SdpError as error:
        _report(error)
        code = 1
    except BrokenPipeError:
        # The reader of our output went away (`sdp query … | head`): nothing more to say, and no one to say it to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as error:  # a bug of ours: one line for the user, the trace only on request
        if os.environ.get("SDP_DEBUG"):
            traceback.print_exc()
        err.print(f"[red]error:[/] unexpected {type(error).__name__}: {escape(str(error))} (SDP_DEBUG=1 shows more)")
        code = 1
    sys.exit(code)
