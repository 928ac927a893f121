"""A file that cannot become a table: the code and message its record shows as FAILED."""

from __future__ import annotations


class FileProblem(Exception):
    """Something about the file itself; retrying will not help. The message says what and where."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OverLimit(FileProblem):
    """The file needs more than ingest gives one file (time, bytes, columns, nesting): whatever
    part of the ingest finds it stops the whole file at once."""
