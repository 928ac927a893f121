"""How the converter reads DuckDB's I/O errors: the file's problem, or ours to retry."""

from __future__ import annotations

import duckdb

from chalicelib.ingest.convert import _io_problem
from chalicelib.ingest.problems import FileProblem


def test_a_conversion_that_fills_the_scratch_space_is_the_files_problem() -> None:
    full = duckdb.IOException('IO Error: Could not write file "/tmp/x/part-0.parquet": No space left on device')
    problem = _io_problem(full)
    assert isinstance(problem, FileProblem)
    assert problem.code == "file_too_large"


def test_any_other_io_error_is_ours_and_retried() -> None:
    error = duckdb.IOException("IO Error: Connection reset")
    assert _io_problem(error) is error
