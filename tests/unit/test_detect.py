from __future__ import annotations

import pytest

from chalicelib.ingest.detect import detect, sniff_dialect
from chalicelib.ingest.limits import Limits
from chalicelib.ingest.problems import FileProblem
from chalicelib.settings import load_settings

LIMITS = Limits.from_settings(load_settings())


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2;3\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('a;b\n"x,y,z";2\n"p,q";3\n', ";"),
        ('name,note\n"Ann","a;b;c"\n"Bob","d;e"\n', ","),
        ("single\nvalue\nper line\n", ","),
    ],
)
def test_the_delimiter_is_the_one_that_splits_records_consistently(text: str, delimiter: str) -> None:
    assert sniff_dialect(text).delimiter == delimiter


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("id,name\n1,ann\n2,bob\n", True),
        ("1,ann\n2,bob\n", False),
        ("Order ID,2024\n1,2\n", True),
        ("a,b\n", True),
        ("ann,oslo\nbob,bergen\n", True),
        ("2024-01-01,5\n2024-01-02,7\n", False),
        ("flag,n\ntrue,1\n", True),
    ],
)
def test_a_header_is_recognised(text: str, header: bool) -> None:
    dialect = sniff_dialect(text)
    assert dialect.header is header
    if header:
        assert dialect.names == tuple(text.split("\n")[0].split(","))


def test_a_record_cut_by_the_sample_is_not_counted() -> None:
    text = "a,b\n1,2\n3,4\n5,6\n7"
    assert sniff_dialect(text).delimiter == ","


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"a,b\n1,2\n", ("csv", "utf-8")),
        (b"\xef\xbb\xbfa;b\n1;2\n", ("csv", "utf-8")),
        ("a,b\nJosé,1\n".encode("latin-1"), ("csv", "latin-1")),
        (b'{"a": 1}\n{"a": 2}\n', ("jsonl", "utf-8")),
        (b'  \n{"a": 1}\n', ("jsonl", "utf-8")),
        (b"a\tb\n1\t2\n", ("tsv", "utf-8")),
    ],
)
def test_text_formats_and_encodings(head: bytes, expected: tuple[str, str]) -> None:
    detected = detect(head, head[-8:], limits=LIMITS)
    assert (detected.format, detected.encoding) == expected
    assert (detected.note is not None) == (expected[1] == "latin-1")


def test_a_utf8_character_cut_by_the_sample_is_still_utf8() -> None:
    head = ("a,b\n" + "é" * 10).encode()[:-1]
    assert detect(head, head[-8:], limits=LIMITS).encoding == "utf-8"


@pytest.mark.parametrize(
    ("head", "code", "says"),
    [
        (b"", "empty_file", "empty"),
        (b"\n\n  \t\n", "empty_file", "empty"),
        (b"PK\x03\x04rest", "unsupported_format", "ZIP archive"),
        (b"%PDF-1.7\n", "unsupported_format", "PDF"),
        (b"MZ\x90\x00", "unsupported_format", "Windows executable"),
        (b"GIF89a....", "unsupported_format", "GIF"),
        (b"\xff\xd8\xff\xe0", "unsupported_format", "JPEG"),
        (b"SQLite format 3\x00", "unsupported_format", "SQLite"),
        (b"a,b\n\x00\x01\x02\x03", "unsupported_format", "binary"),
        (b'[{"a": 1}]', "unsupported_format", "JSON array"),
        (b"{not json\n", "malformed_file", "Line 1"),
        (b'{"a": 1', "malformed_file", "Line 1"),
        (b"\x1f\x8bagain", "unsupported_format", "twice"),
    ],
)
def test_what_cannot_be_a_table_is_named(head: bytes, code: str, says: str) -> None:
    with pytest.raises(FileProblem) as raised:
        detect(head, head[-8:], limits=LIMITS)
    assert raised.value.code == code
    assert says in raised.value.message


def test_parquet_needs_its_footer() -> None:
    assert detect(b"PAR1" + bytes(10), bytes(4) + b"PAR1", limits=LIMITS).format == "parquet"
    with pytest.raises(FileProblem, match="no Parquet footer"):
        detect(b"PAR1" + bytes(10), bytes(8), limits=LIMITS)
    with pytest.raises(FileProblem, match="inside gzip"):
        detect(b"PAR1" + bytes(10), bytes(4) + b"PAR1", compression="gzip", limits=LIMITS)
