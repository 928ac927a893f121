"""A file sent as an HTML form or with `curl -F` (`multipart/form-data`): the bytes of its file
part, not the envelope around them.

The form may hold one file part and nothing else; its filename names the file where the request
does not. The envelope is read by python-multipart's streaming parser, part by part, and the file
part's bytes are counted as they come: a file over the limit is refused before more is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.errors import BadRequest, PayloadTooLarge

FORM_CONTENT_TYPE = "multipart/form-data"


@dataclass(frozen=True)
class FormFile:
    filename: str | None
    content_type: str | None  # the file part's own, as the client declared it
    data: bytes


def is_form(content_type: str | None) -> bool:
    """Whether the body is a form: by its media type alone (the parser is loaded only for forms)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)  # values as sent: browsers send UTF-8
    filename: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


class _FormReader:
    """python-multipart's callbacks: each part's headers, then its bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self.parts: list[_Part] = []
        self._field = b""
        self._value = b""

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }

    def _part_begin(self) -> None:
        self.parts.append(_Part())

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self.parts[-1].headers[self._field.decode("latin-1").lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        part = self.parts[-1]
        # Bytes, which the parser reads as Latin-1 and gives back unchanged: any byte is fine there.
        disposition, options = parse_options_header(part.headers.get("content-disposition", b""))
        if disposition != b"form-data" or b"filename" not in options or len(self.parts) > 1:
            name = options.get(b"name", b"").decode("utf-8", "replace")
            raise BadRequest(
                "unexpected_form_field",
                f"The form may hold one file part and nothing else, not {name or 'another part'!r}: send "
                "the file alone, and its name as ?name=… if it should not be the file's own.",
            )
        part.filename = options[b"filename"].decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        part.size += end - start
        if part.size > self._max_bytes:
            raise PayloadTooLarge(message=f"POST /files takes files up to {self._max_bytes} bytes; use POST /uploads.")
        part.chunks.append(data[start:end])


def form_file(content_type: str, body: bytes, max_bytes: int) -> FormFile:
    """The file part of a `multipart/form-data` body; 400 if the envelope cannot be read, holds
    no file or more than one part, 413 if the file is over `max_bytes`."""
    # Loaded here: only a form needs it, and every request of the API function would pay for it.
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

    boundary = parse_options_header(content_type.encode(errors="surrogateescape"))[1].get(b"boundary")
    if not boundary:
        raise BadRequest("invalid_request", "A multipart/form-data body needs the boundary its Content-Type names.")
    reader = _FormReader(max_bytes)
    try:
        parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except MultipartParseError as error:
        raise BadRequest("invalid_request", f"The multipart/form-data body cannot be read: {error}.") from None
    if parser.state != MultipartState.END:  # cut short: what came may be only part of the file
        raise BadRequest("invalid_request", "The multipart/form-data body ends before its closing boundary.")
    if not reader.parts:
        raise BadRequest("invalid_request", "The multipart/form-data body holds no file part.")
    [part] = reader.parts
    return FormFile(part.filename or None, _media_type(part.headers.get("content-type")), b"".join(part.chunks))


def _media_type(declared: bytes | None) -> str | None:
    """The part's Content-Type if it can be one (printable ASCII: it is stored as an S3 header);
    else none, and the file gets the default."""
    if declared and declared.isascii() and declared.decode().isprintable():
        return declared.decode()
    return None
