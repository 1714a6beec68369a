"""Streaming response decoders: a body as a stream of byte chunks in, records out one at a time.

    decoder = decoder_for({"format": "csv", "delimiter": ";", "compression": "gzip"})
    records = decoder.records(response.iter_bytes())     # of a `client.stream(...)` response: one at a time
    records = decoder.arecords(response.aiter_bytes())   # the same from an async client, for `async for`

One small class per format (`JsonDecoder`, `JsonLinesDecoder`, `CsvDecoder`, `XmlDecoder`) and two wrappers
(`GzipDecoder`, `ZipDecoder`) around any of them. Memory holds one record and one chunk, never the body, except
where the format forbids it: `JsonDecoder` parses the whole body (a JSON document has no record boundaries) and
`ZipDecoder` spools the archive to a temporary file first (its directory is at the end). A decoder is a
configuration: each `records()` / `arecords()` call starts a fresh parse, so one decoder serves every page.

A body that does not decode raises `ApiResponseError` naming the format and where (line, row or byte), never
the body's content (it may carry secrets); a bad configuration raises `ConfigError` naming the field `decoder`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
import zipfile
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from airflow_provider_authapi.auth.errors import ApiResponseError, ConfigError

FIELD = "decoder"
PIECE = 64 * 1024  # bytes of decompressed output handed on at a time (a zip bomb stays one piece in memory)


class Stream(Protocol):
    """One parse in progress: `feed` each chunk, then `close`; both yield the records completed so far, and what
    one call yields must be consumed before the next call (the parse advances as it is consumed)."""

    def feed(self, chunk: bytes) -> Iterator[Any]: ...

    def close(self) -> Iterator[Any]: ...


class Decoder:
    """Base class: `stream()` starts one parse; `records` and `arecords` drive it from sync or async chunks."""

    format: ClassVar[str] = ""

    def stream(self) -> Stream:
        raise NotImplementedError

    def records(self, chunks: Iterable[bytes]) -> Iterator[Any]:
        """The records of the body whose bytes `chunks` yields, one at a time."""
        stream = self.stream()
        for chunk in chunks:
            yield from stream.feed(chunk)
        yield from stream.close()

    async def arecords(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[Any]:
        """`records` over an async stream of chunks (`response.aiter_bytes()`)."""
        stream = self.stream()
        async for chunk in chunks:
            for record in stream.feed(chunk):
                yield record
        for record in stream.close():
            yield record

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if not key.startswith("_"))
        return f"{type(self).__name__}({options})"


def undecodable(fmt: str, where: str, problem: str) -> ApiResponseError:
    return ApiResponseError(f"{fmt}: {where} {problem}")


def incremental_decoder(encoding: str) -> codecs.IncrementalDecoder:
    """A strict incremental text decoder; UTF-8 skips a leading byte-order mark (Excel's exports have one)."""
    name = codecs.lookup(encoding).name
    return codecs.getincrementaldecoder("utf-8-sig" if name == "utf-8" else name)(errors="strict")


def check_encoding(encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ConfigError(FIELD, f"encoding {encoding!r} is not a known text encoding") from None
    return encoding


# -- JSON ------------------------------------------------------------------------------------------------------------


class JsonDecoder(Decoder):
    """The whole body as one JSON document, as `parse_body` reads it: a list gives its items, anything else is one
    record, an empty body none. Memory holds the body (JSON has no record boundaries to stream on)."""

    format = "json"

    def stream(self) -> Stream:
        return _JsonStream()


class _JsonStream:
    def __init__(self) -> None:
        self._body = bytearray()

    def feed(self, chunk: bytes) -> Iterator[Any]:
        self._body += chunk
        return iter(())

    def close(self) -> Iterator[Any]:
        body, self._body = bytes(self._body), bytearray()
        if not body.strip():
            return
        try:
            value = json.loads(body)
        except UnicodeDecodeError as exc:
            problem = f"does not decode as text ({exc.reason} at byte {exc.start})"
            raise undecodable("json", "the body", problem) from None
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise undecodable("json", "the body", f"is not JSON ({exc.msg} at {where})") from None
        if isinstance(value, list):
            yield from value
        else:
            yield value


class JsonLinesDecoder(Decoder):
    """JSON Lines (NDJSON): one JSON value per line; blank lines are skipped."""

    format = "jsonl"

    def stream(self) -> Stream:
        return _JsonLinesStream()


class _JsonLinesStream:
    def __init__(self) -> None:
        self._partial = bytearray()  # the line not yet ended
        self._line = 0  # lines completed so far
        self._offset = 0  # byte offset of the partial line's start

    def feed(self, chunk: bytes) -> Iterator[Any]:
        buffer = self._partial
        searched = len(buffer)
        buffer += chunk
        end = buffer.rfind(b"\n", searched)
        if end < 0:
            return
        block = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        yield from self._lines(block.split(b"\n")[:-1])

    def close(self) -> Iterator[Any]:
        rest, self._partial = bytes(self._partial), bytearray()
        if rest:
            yield from self._lines([rest])

    def _lines(self, lines: list[bytes]) -> Iterator[Any]:
        loads = json.loads
        for line in lines:
            self._line += 1
            start, self._offset = self._offset, self._offset + len(line) + 1
            if line.strip():
                try:
                    yield loads(line)
                except ValueError as exc:
                    raise self._error(exc, start) from None

    def _error(self, exc: ValueError, start: int) -> ApiResponseError:
        where = f"line {self._line} (byte {start})"
        if isinstance(exc, UnicodeDecodeError):
            return undecodable("jsonl", where, f"does not decode as text ({exc.reason})")
        if isinstance(exc, json.JSONDecodeError):
            return undecodable("jsonl", where, f"is not JSON ({exc.msg} at column {exc.colno})")
        return undecodable("jsonl", where, "is not JSON")


# -- CSV -------------------------------------------------------------------------------------------------------------


class CsvDecoder(Decoder):
    """CSV rows as dicts, like `csv.DictReader`: keys from `fieldnames`, else from the first non-blank row; a row
    longer than them keeps the rest in a list under `restkey` (None), a shorter one gets `restval` (None).

    Quoted fields may hold delimiters, quotes (doubled) and line breaks, wherever the chunks are cut; blank lines
    are skipped. `encoding` is any Python codec (UTF-8 by default, a leading byte-order mark skipped). A body that
    ends inside a quoted field (cut short) is an error, not a short last row."""

    format = "csv"

    def __init__(
        self,
        *,
        delimiter: str = ",",
        quotechar: str = '"',
        encoding: str = "utf-8",
        fieldnames: Sequence[str] | None = None,
        restkey: str | None = None,
        restval: Any = None,
    ) -> None:
        for name, value in (("delimiter", delimiter), ("quotechar", quotechar)):
            if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
                raise ConfigError(FIELD, f"{name} must be one character other than a line break, not {value!r}")
        if delimiter == quotechar:
            raise ConfigError(FIELD, f"delimiter and quotechar are both {delimiter!r}")
        if fieldnames is not None and (
            isinstance(fieldnames, str) or not all(isinstance(name, str) for name in fieldnames)
        ):
            raise ConfigError(FIELD, "fieldnames must be a list of column names")
        self.delimiter = delimiter
        self.quotechar = quotechar
        self.encoding = check_encoding(encoding)
        self.fieldnames = list(fieldnames) if fieldnames is not None else None
        self.restkey = restkey
        self.restval = restval

    def stream(self) -> Stream:
        return _CsvStream(self)


class _CsvStream:
    """Decodes bytes incrementally, cuts the text at its last line break and parses what precedes it with one
    `csv.reader` per batch. When the batch ends inside a multi-line quoted field, the reader's last row is
    incomplete: that record's text is carried over and parsed again once the carry has doubled (or at the end),
    so a record much larger than a chunk costs at most twice its parse and holds at most twice its size."""

    def __init__(self, spec: CsvDecoder) -> None:
        self._spec = spec
        self._dialect = {"delimiter": spec.delimiter, "quotechar": spec.quotechar}
        self._decoder = incremental_decoder(spec.encoding)
        self._fieldnames = spec.fieldnames
        self._carry: list[str] = []  # text after the last parsed record
        self._carry_chars = 0
        self._retry_at = 0  # carried chars at which an incomplete record is worth parsing again
        self._bytes = 0  # bytes fed so far
        self._line = 0  # physical lines parsed so far
        self._row = 0  # data rows yielded so far

    def feed(self, chunk: bytes) -> Iterator[Any]:
        new = self._decode(chunk, final=False)
        cut = new.rfind("\n")
        if cut < 0:
            cut = new.rfind("\r", 0, len(new) - 1)  # a body with bare CR line breaks
        if cut < 0 or self._carry_chars + len(new) < self._retry_at:
            self._hold(new)
            return iter(())
        text = "".join(self._carry) + new[: cut + 1] if self._carry else new[: cut + 1]
        self._carry, self._carry_chars = [], 0
        self._hold(new[cut + 1 :])
        return self._parse(text, final=False)

    def close(self) -> Iterator[Any]:
        text = "".join(self._carry) + self._decode(b"", final=True)
        self._carry, self._carry_chars = [], 0
        if not text:
            return iter(())
        if text[-1] not in "\r\n":
            text += "\n"
        return self._parse(text, final=True)

    def _hold(self, text: str) -> None:
        if text:
            self._carry.append(text)
            self._carry_chars += len(text)

    def _decode(self, chunk: bytes, *, final: bool) -> str:
        buffered = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            where = f"byte {self._bytes - buffered + exc.start}"
            problem = f"does not decode as {self._spec.encoding} ({exc.reason})"
            raise undecodable("csv", where, problem) from None
        self._bytes += len(chunk)
        return text

    def _parse(self, text: str, *, final: bool) -> Iterator[Any]:
        """The rows of `text` (which ends with a line break) as dicts; an incomplete last record is carried."""
        reader = csv.reader(io.StringIO(text, newline=""), **self._dialect)
        names = self._fieldnames
        count = len(names) if names is not None else 0
        pending: list[str] | None = None  # the last row read: yielded once the next one shows it was complete
        before = after = 0  # lines read before and after the pending row
        try:
            for row in reader:
                if pending:  # [] is a blank line
                    if names is None:
                        names, count = pending, len(pending)
                    else:
                        self._row += 1
                        record = dict(zip(names, pending, strict=False))
                        if len(pending) != count:
                            self._fix_length(record, pending, names)
                        yield record
                pending = row
                before, after = after, reader.line_num
        except csv.Error as exc:
            row = self._row + 1 + (1 if pending and names is not None else 0)  # the pending row comes first
            where = f"row {row} (line {self._line + reader.line_num})"
            raise undecodable("csv", where, f"does not parse ({exc})") from None
        self._fieldnames = names
        if pending is None:
            self._line += after
            return
        start = _start_of_last_lines(text, after - before)
        if not self._complete(text[start:]):
            if final:
                where = f"row {self._row + 1} (line {self._line + before + 1})"
                raise undecodable("csv", where, "ends inside a quoted field: the body is cut short")
            self._carry.insert(0, text[start:])
            self._carry_chars += len(text) - start
            self._retry_at = 2 * (len(text) - start)
            self._line += before
            return
        self._retry_at = 0
        self._line += after
        if pending and names is None:
            self._fieldnames = pending
        elif pending:
            self._row += 1
            record = dict(zip(names, pending, strict=False))
            if len(pending) != count:
                self._fix_length(record, pending, names)
            yield record

    def _complete(self, record: str) -> bool:
        """Whether the text of one record (ending with a line break) is outside a quoted field at its end: a
        quote added after it then starts a second row instead of closing the field."""
        probe = csv.reader(io.StringIO(record + self._dialect["quotechar"], newline=""), **self._dialect)
        return sum(1 for _ in probe) >= 2

    def _fix_length(self, record: dict[Any, Any], row: list[str], names: Sequence[str]) -> None:
        """DictReader's rule for a row longer or shorter than the header."""
        if len(row) > len(names):
            record[self._spec.restkey] = row[len(names) :]
        else:
            for name in names[len(row) :]:
                record[name] = self._spec.restval


def _start_of_last_lines(text: str, count: int) -> int:
    """Where the last `count` lines of `text` start, its lines split as `io.StringIO(newline="")` splits them
    (after `\\n`, `\\r\\n` or a bare `\\r`)."""
    has_cr = "\r" in text
    end = len(text)
    for _ in range(count):
        if text.endswith("\r\n", 0, end):
            end -= 2
        elif end and text[end - 1] in "\r\n":
            end -= 1
        newline = text.rfind("\n", 0, end)
        if has_cr:
            newline = max(newline, text.rfind("\r", 0, end))
        end = newline + 1
    return end


# -- XML -------------------------------------------------------------------------------------------------------------

# A DTD is refused before expat sees it: entity declarations expand (billion laughs, external entities).
_DOCTYPE_MARKS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le"))
_DOCTYPE_MARKS += ("<!DOCTYPE".encode("utf-32-be"),)
_MARK_OVERLAP = max(len(mark) for mark in _DOCTYPE_MARKS) - 1


class XmlDecoder(Decoder):
    """Each `record_tag` element (the outermost, at any depth) as a dict, streamed with `XMLPullParser`.

    Attributes are `@name` keys; child elements are keyed by their local name (namespaces dropped), repeated
    children become a list; a child with neither attributes nor children is its text as is (None when empty); an
    element's own text next to attributes or children is `#text`, stripped (it is mostly indentation), and left
    out when blank. Text after a child element (mixed content) is not kept. Elements are cleared as soon as they
    are yielded or known to hold no record, so memory holds one record. A document with a DTD (`<!DOCTYPE ...>`,
    where entities are declared) is refused before it is parsed.
    """

    format = "xml"

    def __init__(self, record_tag: str) -> None:
        if not isinstance(record_tag, str) or not record_tag.strip() or any(c in record_tag for c in " <>/"):
            raise ConfigError(FIELD, f"xml needs record_tag, the name of each record's element, not {record_tag!r}")
        self.record_tag = record_tag

    def stream(self) -> Stream:
        return _XmlStream(self.record_tag)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def element_dict(element: Element) -> dict[str, Any]:
    """`element` as a dict: `@attribute`s, children by local name (repeated ones as a list), `#text`."""
    record: dict[str, Any] = {f"@{_local(name)}": value for name, value in element.attrib.items()}
    for child in element:
        key = _local(child.tag) if isinstance(child.tag, str) else None
        if key is None:  # a comment or processing instruction
            continue
        value = element_dict(child) if len(child) or child.attrib else child.text or None
        if key not in record:
            record[key] = value
        elif isinstance(record[key], list):  # a value is a dict, a str or None: a list is a repeated child's
            record[key].append(value)
        else:
            record[key] = [record[key], value]
    text = (element.text or "").strip()
    if text:
        record["#text"] = text
    return record


class _XmlStream:
    def __init__(self, record_tag: str) -> None:
        self._tag = record_tag
        self._parser = XMLPullParser(events=("start", "end"))
        self._open: list[Element] = []  # the elements started and not ended, outermost first
        self._record: Element | None = None
        self._started = False  # the root element has started: no DTD can follow
        self._tail = b""  # the last bytes before this chunk, to find a <!DOCTYPE cut across chunks
        self._bytes = 0

    def _is_record(self, tag: str) -> bool:
        return tag == self._tag or _local(tag) == self._tag

    def feed(self, chunk: bytes) -> Iterator[Any]:
        if not self._started:
            at = self._doctype_at(chunk)
            if at >= 0:  # before the root element, a DTD; after its start tag, text (CDATA, a comment)
                yield from self._parse(chunk[:at])
                if not self._started:
                    raise self._refused(self._bytes)
                chunk = chunk[at:]
        yield from self._parse(chunk)

    def close(self) -> Iterator[Any]:
        try:
            self._parser.close()
        except ParseError as exc:
            raise self._error(exc) from None
        return self._events()

    def _parse(self, data: bytes) -> Iterator[Any]:
        self._parser.feed(data)  # a syntax error comes out of read_events
        self._bytes += len(data)
        return self._events()

    def _doctype_at(self, chunk: bytes) -> int:
        """Where in `chunk` the first `<!DOCTYPE` begins, or -1; one begun in the previous chunk is refused."""
        window = self._tail + chunk
        found = [at for at in (window.find(mark) for mark in _DOCTYPE_MARKS) if at >= 0]
        self._tail = window[-_MARK_OVERLAP:]
        if not found:
            return -1
        at = min(found) - (len(window) - len(chunk))
        if at < 0:
            raise self._refused(self._bytes + at)
        return at

    def _refused(self, offset: int) -> ApiResponseError:
        problem = "starts a DTD (<!DOCTYPE>): refused, entity declarations can expand without bound"
        return undecodable("xml", f"byte {offset}", problem)

    def _events(self) -> Iterator[Any]:
        open_, record_tag = self._open, self._is_record
        try:
            for event, element in self._parser.read_events():
                if event == "start":
                    self._started = True
                    open_.append(element)
                    if self._record is None and record_tag(element.tag):
                        self._record = element
                    continue
                open_.pop()
                if self._record is not None and element is not self._record:
                    continue  # part of the record being built
                if element is self._record:
                    self._record = None
                    try:
                        record = element_dict(element)
                    except RecursionError:
                        where = f"the element ending at byte {self._bytes}"
                        raise undecodable("xml", where, "nests elements too deeply to be a record") from None
                    yield record
                element.clear()
                if open_:
                    open_[-1].remove(element)  # the last child: found at once
        except ParseError as exc:
            raise self._error(exc) from None

    def _error(self, exc: ParseError) -> ApiResponseError:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        return undecodable("xml", f"line {line}, column {column}", f"is not well-formed XML ({reason})")


# -- Compression wrappers -------------------------------------------------------------------------------------------


class GzipDecoder(Decoder):
    """A gzip-compressed body (concatenated members too), decompressed as it streams, decoded by `inner`.

    Served as `application/gzip` without `Content-Encoding` (httpx undoes a `Content-Encoding: gzip` itself)."""

    format = "gzip"

    def __init__(self, inner: Decoder) -> None:
        if not isinstance(inner, Decoder):
            raise ConfigError(FIELD, f"gzip wraps a decoder, not {inner!r}")
        self.inner = inner

    def stream(self) -> Stream:
        return _GzipStream(self.inner.stream())


class _GzipStream:
    def __init__(self, inner: Stream) -> None:
        self._inner = inner
        self._member: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._started = False  # a member has begun and not ended
        self._bytes = 0  # compressed bytes fed so far

    def feed(self, chunk: bytes) -> Iterator[Any]:
        data = chunk
        while data:
            if not self._started:
                data = data.lstrip(b"\0")  # zero padding between or after members, as gzip.decompress allows
                if not data:
                    break
                self._started = True
            try:
                out = self._member.decompress(data, PIECE)
            except zlib.error as exc:
                where = f"the bytes from byte {self._bytes + len(chunk) - len(data)}"
                raise undecodable("gzip", where, f"do not decompress ({exc})") from None
            if out:
                yield from self._inner.feed(out)
            if self._member.eof:
                data = self._member.unused_data
                self._member = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._started = False
            else:
                data = self._member.unconsumed_tail
        self._bytes += len(chunk)

    def close(self) -> Iterator[Any]:
        if self._started:
            raise undecodable("gzip", "the body", f"ends inside a gzip member, at byte {self._bytes}: cut short")
        yield from self._inner.close()


class ZipDecoder(Decoder):
    """One member of a zip archive, decoded by `inner`: `member` by name, else the only file in the archive.

    A zip's directory is at its end, so the body is spooled first (`SPOOL_BYTES` in memory, the rest in a
    temporary file), then the member is decompressed `PIECE` bytes at a time."""

    format = "zip"
    SPOOL_BYTES = 8 * 1024 * 1024

    def __init__(self, inner: Decoder, member: str | None = None) -> None:
        if not isinstance(inner, Decoder):
            raise ConfigError(FIELD, f"zip wraps a decoder, not {inner!r}")
        if member is not None and (not isinstance(member, str) or not member):
            raise ConfigError(FIELD, f"member must be the name of a file in the archive, not {member!r}")
        self.inner = inner
        self.member = member

    def stream(self) -> Stream:
        return _ZipStream(self.inner.stream(), self.member, self.SPOOL_BYTES)


class _ZipStream:
    def __init__(self, inner: Stream, member: str | None, spool_bytes: int) -> None:
        self._inner = inner
        self._member = member
        self._spool = tempfile.SpooledTemporaryFile(max_size=spool_bytes, prefix="authapi-zip-")  # noqa: SIM115

    def feed(self, chunk: bytes) -> Iterator[Any]:
        self._spool.write(chunk)
        return iter(())

    def close(self) -> Iterator[Any]:
        with self._spool:
            try:
                with zipfile.ZipFile(self._spool) as archive:
                    info = self._pick(archive)
                    with archive.open(info) as member:
                        for piece in iter(lambda: member.read(PIECE), b""):
                            yield from self._inner.feed(piece)
            except zipfile.BadZipFile as exc:
                raise undecodable("zip", "the body", f"is not a readable zip archive ({exc})") from None
            except (NotImplementedError, RuntimeError) as exc:  # an unsupported method, an encrypted member
                raise undecodable("zip", "the member", f"cannot be read ({exc})") from None
            except (zlib.error, EOFError) as exc:
                raise undecodable("zip", "the member", f"does not decompress ({exc})") from None
        yield from self._inner.close()

    def _pick(self, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
        files = [info for info in archive.infolist() if not info.is_dir()]
        names = ", ".join(info.filename for info in files) or "none"
        if self._member is not None:
            for info in files:
                if info.filename == self._member:
                    return info
            raise undecodable("zip", "the archive", f"has no member {self._member!r} (its files: {names})")
        if len(files) != 1:
            raise undecodable(
                "zip", "the archive", f"holds {len(files)} files ({names}): set the decoder's member to one of them"
            )
        return files[0]


# -- By name or spec ------------------------------------------------------------------------------------------------

FORMATS: dict[str, type[Decoder]] = {
    "json": JsonDecoder,
    "jsonl": JsonLinesDecoder,
    "ndjson": JsonLinesDecoder,
    "csv": CsvDecoder,
    "xml": XmlDecoder,
}
COMPRESSIONS = ("gzip", "zip")
OPTIONS: dict[type[Decoder], tuple[str, ...]] = {
    JsonDecoder: (),
    JsonLinesDecoder: (),
    CsvDecoder: ("delimiter", "quotechar", "encoding", "fieldnames", "restkey", "restval"),
    XmlDecoder: ("record_tag",),
}

DecoderSpec = str | Mapping[str, Any] | Decoder


def decoder_for(spec: DecoderSpec) -> Decoder:
    """A decoder from a name (`"json"`, `"jsonl"`, `"csv"`, `"csv+gzip"`, `"jsonl+zip"`), a dict (`{"format":
    "csv", "delimiter": ";", "compression": "gzip"}`, `{"format": "xml", "record_tag": "item"}`, a zip's
    `"member"`), or a `Decoder` (returned as is). Anything else raises `ConfigError` naming `decoder`."""
    if isinstance(spec, Decoder):
        return spec
    if isinstance(spec, str):
        fmt, _, compression = spec.strip().lower().partition("+")
        options: dict[str, Any] = {"format": fmt}
        if compression:
            options["compression"] = compression
    elif isinstance(spec, Mapping):
        options = dict(spec)
    else:
        raise ConfigError(FIELD, f"expected a format name or a dict with 'format', not {type(spec).__name__}")
    fmt = options.pop("format", None)
    cls = FORMATS.get(fmt) if isinstance(fmt, str) else None
    if cls is None:
        raise ConfigError(FIELD, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    compression = options.pop("compression", None)
    if compression not in (None, "none", *COMPRESSIONS):
        raise ConfigError(FIELD, f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}")
    member = options.pop("member", None)
    if member is not None and compression != "zip":
        raise ConfigError(FIELD, "member names a file in a zip archive: it needs compression 'zip'")
    unknown = sorted(set(options) - set(OPTIONS[cls]))
    if unknown:
        allowed = ", ".join(OPTIONS[cls]) or "none"
        raise ConfigError(FIELD, f"{fmt} takes no option {', '.join(map(repr, unknown))} (its options: {allowed})")
    if cls is XmlDecoder and "record_tag" not in options:
        raise ConfigError(FIELD, "xml needs record_tag, the name of the element of each record")
    decoder = cls(**options)
    if compression == "gzip":
        return GzipDecoder(decoder)
    if compression == "zip":
        return ZipDecoder(decoder, member)
    return decoder
