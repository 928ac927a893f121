"""The `sdp` command: the platform from a terminal. Data goes to stdout, progress and errors to stderr.

Exit codes: 0 success, 1 an API, network, ingest or query error, 2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from sdp.errors import ApiError, FileFailed, NotFound, SdpError, SqlRefused
from sdp.models import Column, File, Member, Record, TableDetail

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


@cli.command()
@click.argument("sql", required=False)
@click.option(
    "-f", "--file", "sql_file", type=click.File("r", encoding="utf-8"), help="Read the SQL from a file (- for stdin)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    help="table for a terminal, csv when piped (default); json prints one object per row.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the whole result to this file.",
)
@click.option("--no-wait", is_flag=True, help="Print the query id and return at once.")
@pass_session
def query(
    session: Session, sql: str | None, sql_file: Any, output_format: str | None, output: Path | None, no_wait: bool
) -> None:
    """Run a SQL query (Athena's dialect) over your tables."""
    if (sql is None) == (sql_file is None):
        raise click.UsageError("Give the SQL as an argument or with -f FILE, one of the two.")
    text = sql if sql is not None else sql_file.read()
    client = session.client
    try:
        result = client.query(text, wait=False)
    except SqlRefused as refused:
        _report(refused)
        _point_at(text, refused)
        raise SystemExit(1) from None
    if no_wait:
        out.print(result.query_id)
        return
    try:
        with err.status(f"Running query {result.query_id}…"):
            result.wait()
    except KeyboardInterrupt:
        result.cancel()
        raise Interrupted(f"Cancelled query {result.query_id}.") from None
    fmt = output_format or ("csv" if output is not None or not out.is_terminal else "table")
    if output is not None:
        _write_result(result, fmt, output)
    else:
        _print_result(result, fmt)
    stats = result.query.stats
    if stats is not None:
        err.print(
            f"{_count(stats.rows, 'row')} · {stats.runtime_ms / 1000:.2f} s · {decimal(stats.bytes_scanned)} scanned",
            style="dim",
        )


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
