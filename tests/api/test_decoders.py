"""Streaming response decoders: each format at every chunk boundary, bad bodies, `decoder_for`, and end to end
from a real HTTP server (sync and async httpx), with memory bounded while a 50 MB export streams."""

from __future__ import annotations

import asyncio
import codecs
import csv
import gzip
import importlib.util
import io
import json
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api.decoders import (
    PIECE,
    CsvDecoder,
    Decoder,
    GzipDecoder,
    JsonDecoder,
    JsonLinesDecoder,
    XmlDecoder,
    ZipDecoder,
    decoder_for,
)
from airflow_provider_authapi.auth.errors import ApiResponseError, AuthApiError, ConfigError
from tests.conftest import ROOT
from tests.emulators.exports import (
    RECORDS,
    ExportsEmulator,
    csv_bytes,
    generated_row,
    gzip_bytes,
    jsonl_bytes,
    xml_bytes,
    xml_record,
    zip_bytes,
)

CSV_SAMPLE = 'id,name,note\r\n1,Zoë,"two\nlines, ""quoted"""\r\n\r\n2,"A\r\nB",x,extra\r\n3,short\r\n4,€,"end"\r\n'
CSV_EXPECTED = list(csv.DictReader(io.StringIO(CSV_SAMPLE, newline="")))


def decode(decoder: Decoder, chunks: Iterable[bytes]) -> list[Any]:
    return list(decoder.records(chunks))


def splits(data: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """`data` cut in two at every offset, then a byte at a time."""
    for at in range(len(data) + 1):
        yield at, [data[:at], data[at:]]
    yield -1, [data[i : i + 1] for i in range(len(data))]


def raises(decoder: Decoder, chunks: Iterable[bytes], *fragments: str) -> str:
    with pytest.raises(ApiResponseError) as caught:
        decode(decoder, chunks)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- CSV --------------------------------------------------------------------------------------------------------------


def test_csv_rows_are_dictreader_rows() -> None:
    assert decode(CsvDecoder(), [CSV_SAMPLE.encode()]) == CSV_EXPECTED
    assert CSV_EXPECTED[0]["note"] == 'two\nlines, "quoted"'  # the sample has what it should
    assert CSV_EXPECTED[1] == {"id": "2", "name": "A\r\nB", "note": "x", None: ["extra"]}
    assert CSV_EXPECTED[2] == {"id": "3", "name": "short", "note": None}


def test_csv_every_cut_in_two_and_three() -> None:
    """Cuts inside quoted line breaks, doubled quotes, CRLF pairs and the bytes of 'ë' and '€'."""
    data = CSV_SAMPLE.encode()
    decoder = CsvDecoder()
    for at, chunks in splits(data):
        assert decode(decoder, chunks) == CSV_EXPECTED, at
    for first in range(len(data) + 1):
        for second in range(first, len(data) + 1):
            chunks = [data[:first], data[first:second], data[second:]]
            assert decode(decoder, chunks) == CSV_EXPECTED, (first, second)


def test_csv_record_far_larger_than_a_chunk() -> None:
    """A quoted field of 120 KB (under csv.field_size_limit) with line breaks and doubled quotes, in 1000-byte
    chunks, between small rows."""
    big = ('line "x", more\n' * 8_000).replace('"', '""')
    text = f'id,blob\n1,a\n2,"{big}"\n3,b\n'
    data = text.encode()
    got = decode(CsvDecoder(), (data[i : i + 1000] for i in range(0, len(data), 1000)))
    assert got == list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["id"] for row in got] == ["1", "2", "3"] and len(got[1]["blob"]) == 120_000


def test_csv_options() -> None:
    data = "1;Zoë;x\n2;Åsa;y\n".encode("latin-1")
    got = decode(CsvDecoder(delimiter=";", encoding="latin-1", fieldnames=["id", "name", "note"]), [data])
    assert got == [{"id": "1", "name": "Zoë", "note": "x"}, {"id": "2", "name": "Åsa", "note": "y"}]
    # A two-byte encoding, cut everywhere; the BOM of UTF-16 and of UTF-8 is not part of the first column name
    utf16 = CSV_SAMPLE.encode("utf-16")
    for at, chunks in splits(utf16):
        assert decode(CsvDecoder(encoding="utf-16"), chunks) == CSV_EXPECTED, at
    assert decode(CsvDecoder(), [codecs.BOM_UTF8 + CSV_SAMPLE.encode()]) == CSV_EXPECTED
    # Bare CR line breaks; no line break at the end; blank lines before the header
    assert decode(CsvDecoder(), [b"\n\na,b\r1,2\r", b"3,4"]) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert decode(CsvDecoder(restkey="rest", restval=""), [b"a,b\n1\n1,2,3\n"]) == [
        {"a": "1", "b": ""},
        {"a": "1", "b": "2", "rest": ["3"]},
    ]
    assert decode(CsvDecoder(), [b""]) == [] and decode(CsvDecoder(), [b"a,b\n"]) == []


def test_csv_a_quote_inside_an_unquoted_field_is_text() -> None:
    """The quote in `12" pizza` opens nothing (as in DictReader): rows after it still come out, one by one."""
    text = 'id,item\n1,12" pizza\n2,"quoted\nbreak"\n3,plain\n'
    data = text.encode()
    expected = list(csv.DictReader(io.StringIO(text, newline="")))
    assert expected[0]["item"] == '12" pizza'
    for at, chunks in splits(data):
        assert decode(CsvDecoder(), chunks) == expected, at


def test_csv_bad_bodies_name_the_row_line_or_byte() -> None:
    secret = "s3cret-value-in-the-body"
    raises(CsvDecoder(), [f'id,note\n1,ok\n2,"{secret}\nnever closed'.encode()], "csv: row 2 (line 3)", "cut short")
    message = raises(CsvDecoder(), [b"id,name\n1,ok\n2,caf\xe9\n"], "csv: byte 18", "utf-8")
    message += raises(CsvDecoder(), [b"id,name\n1,ok\n", b"2,caf\xe9\n"], "csv: byte 18")
    big = "x" * (csv.field_size_limit() + 10)
    message += raises(CsvDecoder(), [f"a,b\n1,{secret}\n2,{big}\n".encode()], "csv: row 2 (line 3)", "field limit")
    assert secret not in message


def test_csv_configuration_errors_name_the_decoder_field() -> None:
    for kwargs in ({"delimiter": ";;"}, {"delimiter": "\n"}, {"quotechar": ""}, {"encoding": "no-such-codec"}):
        with pytest.raises(ConfigError) as caught:
            CsvDecoder(**kwargs)
        assert caught.value.field == "decoder"
    with pytest.raises(ConfigError, match="fieldnames"):
        CsvDecoder(fieldnames="id,name")  # type: ignore[arg-type]


# -- JSON Lines and JSON ---------------------------------------------------------------------------------------------

JSONL_SAMPLE = '{"id": 1, "name": "Zoë"}\r\n\n  \n[2, "€"]\n"three"\n{"n": {"deep": [1, 2]}}'.encode()
JSONL_EXPECTED = [{"id": 1, "name": "Zoë"}, [2, "€"], "three", {"n": {"deep": [1, 2]}}]


def test_jsonl_every_cut() -> None:
    for at, chunks in splits(JSONL_SAMPLE):
        assert decode(JsonLinesDecoder(), chunks) == JSONL_EXPECTED, at


def test_jsonl_bad_line_names_its_number_and_not_its_content() -> None:
    body = b'{"id": 1}\n\n{"access_token": "s3cret-token-value", broken\n{"id": 4}\n'
    message = raises(JsonLinesDecoder(), [body], "jsonl: line 3 (byte 11)", "is not JSON")
    assert "s3cret" not in message
    raises(JsonLinesDecoder(), [b'{"a": 1}\n', b'{"b": "caf\xe9"}\n'], "jsonl: line 2", "does not decode")
    # the records before the bad line came out first
    seen: list[Any] = []
    with pytest.raises(ApiResponseError):
        seen.extend(JsonLinesDecoder().records([body]))
    assert seen == [{"id": 1}]


def test_json_whole_body() -> None:
    body = json.dumps([{"id": 1}, {"id": 2}]).encode()
    for at, chunks in splits(body):
        assert decode(JsonDecoder(), chunks) == [{"id": 1}, {"id": 2}], at
    assert decode(JsonDecoder(), [b'{"items": []}']) == [{"items": []}]
    assert decode(JsonDecoder(), [b"", b" \n"]) == []
    raises(JsonDecoder(), [b'{"id": 1,', b"}"], "json: the body is not JSON", "line 1, column 10")


# -- XML --------------------------------------------------------------------------------------------------------------

XML_SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- export of 2026-01-01 -->
<feed xmlns="urn:example:feed" xmlns:x="urn:example:x">
  <meta><generated>now</generated></meta>
  <entries>
    <entry id="1" x:kind="a"><title>Zoë &amp; €</title><tag>a</tag><tag>b</tag><tag>c</tag><empty/></entry>
    <entry id="2">
      text of two
      <title> padded </title>
      <link href="https://example.com/2" rel="self"/>
      <author><name>Ann</name><email>ann@example.com</email></author>
      <entry>nested entries are part of the outer record</entry>
    </entry>
    <entry><![CDATA[<!DOCTYPE is only text here>]]></entry>
  </entries>
</feed>
""".encode()
XML_EXPECTED = [
    {"@id": "1", "@kind": "a", "title": "Zoë & €", "tag": ["a", "b", "c"], "empty": None},
    {
        "@id": "2",
        "title": " padded ",
        "link": {"@href": "https://example.com/2", "@rel": "self"},
        "author": {"name": "Ann", "email": "ann@example.com"},
        "entry": "nested entries are part of the outer record",
        "#text": "text of two",
    },
    {"#text": "<!DOCTYPE is only text here>"},
]


def test_xml_records_every_cut() -> None:
    for at, chunks in splits(XML_SAMPLE):
        assert decode(XmlDecoder("entry"), chunks) == XML_EXPECTED, at
    namespaced = decode(XmlDecoder("{urn:example:feed}entry"), [XML_SAMPLE])
    assert namespaced == XML_EXPECTED
    assert decode(XmlDecoder("missing"), [XML_SAMPLE]) == []


def test_xml_memory_stays_flat() -> None:
    """100,000 records (about 9 MB) in 64 KiB chunks. Elements kept after their record was yielded, even cleared
    and empty, cost about 100 bytes each (10 MB here); the records' own text is 9 MB: a 3 MB peak allows one
    chunk's events and parse state and fails either."""

    def chunks() -> Iterator[bytes]:
        yield b"<export><items>"
        batch: list[bytes] = []
        for i in range(100_000):
            batch.append(b'<item id="%d"><name>name %d</name><amount>%d.50</amount></item>' % (i, i, i))
            if len(batch) == 1000:
                yield b"".join(batch)
                batch.clear()
        yield b"</items></export>"

    count = 0
    tracemalloc.start()
    try:
        for record in XmlDecoder("item").records(chunks()):
            assert record == {"@id": str(count), "name": f"name {count}", "amount": f"{count}.50"}
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 3 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz><item>&lol9;</item></lolz>
"""


def test_xml_refuses_a_dtd_wherever_the_chunks_are_cut() -> None:
    for _, chunks in splits(BILLION_LAUGHS):
        raises(XmlDecoder("item"), chunks, "xml: byte 22 starts a DTD (<!DOCTYPE>): refused")
    external = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r><item>&x;</item></r>'
    raises(XmlDecoder("item"), [external], "refused")
    utf16 = BILLION_LAUGHS.decode().replace('"1.0"', '"1.0" encoding="UTF-16"').encode("utf-16")
    raises(XmlDecoder("item"), [utf16], "DTD")


def test_xml_bad_documents_name_line_and_column() -> None:
    raises(XmlDecoder("item"), [b"<r>\n<item>1</item>\n<item>2</itme>\n</r>"], "xml: line 3, column", "well-formed")
    raises(XmlDecoder("item"), [b"<r><item>1</item>"], "xml: line 1", "no element found")  # cut short
    raises(XmlDecoder("item"), [b"<r><item>&undefined;</item></r>"], "undefined entity")
    deep = b"<r><item>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</item></r>"
    raises(XmlDecoder("item"), [deep], "xml: the element ending at byte", "too deeply")
    seen = []
    with pytest.raises(ApiResponseError):
        seen.extend(XmlDecoder("item").records([b"<r><item>1</item><item>2", b"</r>"]))
    assert seen == [{"#text": "1"}]


def test_xml_needs_a_record_tag() -> None:
    for tag in ("", "  ", "a b", None):
        with pytest.raises(ConfigError, match="record_tag") as caught:
            XmlDecoder(tag)  # type: ignore[arg-type]
        assert caught.value.field == "decoder"


# -- gzip and zip ----------------------------------------------------------------------------------------------------


def test_gzip_every_cut() -> None:
    compressed = gzip.compress(CSV_SAMPLE.encode())
    for at, chunks in splits(compressed):
        assert decode(GzipDecoder(CsvDecoder()), chunks) == CSV_EXPECTED, at


def test_gzip_members_padding_and_empty() -> None:
    first, second = JSONL_SAMPLE[:30], JSONL_SAMPLE[30:]  # cut inside a line, across the two members
    body = gzip.compress(first) + b"\0\0\0" + gzip.compress(second) + b"\0"
    for at, chunks in splits(body):
        assert decode(GzipDecoder(JsonLinesDecoder()), chunks) == JSONL_EXPECTED, at
    assert decode(GzipDecoder(JsonLinesDecoder()), []) == []


def test_gzip_bad_streams() -> None:
    compressed = gzip.compress(CSV_SAMPLE.encode())
    raises(
        GzipDecoder(CsvDecoder()),
        [compressed[:-9]],
        f"gzip: the body ends inside a gzip member, at byte {len(compressed) - 9}",
    )
    raises(GzipDecoder(CsvDecoder()), [CSV_SAMPLE.encode()], "gzip: the bytes from byte 0 do not decompress")
    corrupt = compressed[:-8] + bytes(8)  # a wrong CRC
    raises(GzipDecoder(CsvDecoder()), [corrupt], "do not decompress")
    raises(GzipDecoder(CsvDecoder()), [compressed + b"trailing garbage"], f"from byte {len(compressed)}")


class PieceCounter(Decoder):
    """An inner decoder that records the size of every piece it is fed."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def stream(self) -> Any:
        counter = self

        class Stream:
            def feed(self, chunk: bytes) -> Iterator[Any]:
                counter.sizes.append(len(chunk))
                return iter(())

            def close(self) -> Iterator[Any]:
                return iter(())

        return Stream()


def test_decompression_is_handed_on_a_piece_at_a_time() -> None:
    """64 MB of zeros compress to 64 KB: one chunk of them must not become 64 MB in memory."""
    zeros = 64 * 1024 * 1024
    counter = PieceCounter()
    decode(GzipDecoder(counter), [gzip_bytes(bytes(zeros))])
    assert sum(counter.sizes) == zeros and max(counter.sizes) <= PIECE
    counter = PieceCounter()
    decode(ZipDecoder(counter), [zip_bytes({"zeros.bin": bytes(zeros)})])
    assert sum(counter.sizes) == zeros and max(counter.sizes) <= PIECE


def test_zip_members() -> None:
    csv_data, jsonl_data = csv_bytes(), jsonl_bytes()
    one = zip_bytes({"folder/": b"", "folder/export.csv": csv_data})
    two = zip_bytes({"export.csv": csv_data, "export.jsonl": jsonl_data})
    for at, chunks in splits(one[:200]):  # cuts in the first bytes; the rest in one chunk
        assert decode(ZipDecoder(CsvDecoder()), [*chunks, one[200:]]) == RECORDS, at
    assert decode(ZipDecoder(JsonLinesDecoder(), member="export.jsonl"), [two]) == RECORDS
    raises(ZipDecoder(CsvDecoder()), [two], "holds 2 files (export.csv, export.jsonl): set the decoder's member")
    raises(ZipDecoder(CsvDecoder(), member="other.csv"), [two], "no member 'other.csv'", "export.jsonl")
    raises(ZipDecoder(CsvDecoder()), [csv_data], "zip: the body is not a readable zip archive")
    raises(ZipDecoder(CsvDecoder()), [one[: len(one) // 2]], "not a readable zip")


def test_zip_spools_to_disk_past_its_memory_budget() -> None:
    class SmallSpool(ZipDecoder):
        SPOOL_BYTES = 256

    data = zip_bytes({"export.csv": csv_bytes(RECORDS * 50)})
    assert len(data) > 256
    assert decode(SmallSpool(CsvDecoder()), [data[i : i + 100] for i in range(0, len(data), 100)]) == RECORDS * 50


def test_every_error_is_an_authapi_error() -> None:
    bad: list[tuple[Decoder, bytes]] = [
        (JsonDecoder(), b"{"),
        (JsonLinesDecoder(), b"{\n"),
        (CsvDecoder(), b'a\n"'),
        (CsvDecoder(), b"\xff\xfe\xfd"),
        (XmlDecoder("a"), b"<"),
        (XmlDecoder("a"), b"<!DOCTYPE a><a/>"),
        (GzipDecoder(JsonDecoder()), b"\x1f\x8b\x08\x00"),
        (ZipDecoder(JsonDecoder()), b"PK\x03\x04"),
    ]
    for decoder, body in bad:
        with pytest.raises(AuthApiError):
            decode(decoder, [body])


# -- decoder_for ------------------------------------------------------------------------------------------------------


def test_decoder_for_names_and_dicts() -> None:
    assert isinstance(decoder_for("json"), JsonDecoder)
    assert isinstance(decoder_for("jsonl"), JsonLinesDecoder) and isinstance(decoder_for("NDJSON"), JsonLinesDecoder)
    csv_decoder = decoder_for({"format": "csv", "delimiter": ";", "fieldnames": ["a", "b"]})
    assert isinstance(csv_decoder, CsvDecoder) and csv_decoder.delimiter == ";" and csv_decoder.fieldnames == ["a", "b"]
    xml = decoder_for({"format": "xml", "record_tag": "item"})
    assert isinstance(xml, XmlDecoder) and xml.record_tag == "item"
    gz = decoder_for("csv+gzip")
    assert isinstance(gz, GzipDecoder) and isinstance(gz.inner, CsvDecoder)
    zipped = decoder_for({"format": "jsonl", "compression": "zip", "member": "a.jsonl"})
    assert isinstance(zipped, ZipDecoder) and zipped.member == "a.jsonl" and isinstance(zipped.inner, JsonLinesDecoder)
    assert isinstance(decoder_for({"format": "csv", "compression": "none"}), CsvDecoder)
    assert decoder_for(zipped) is zipped
    semicolons = decoder_for({"format": "csv", "delimiter": ";", "compression": "gzip"})
    assert decode(semicolons, [gzip.compress(b"a;b\n1;2\n")]) == [{"a": "1", "b": "2"}]
    assert "delimiter=';'" in repr(csv_decoder)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("yaml", "unknown format 'yaml'; choose one of json, jsonl, ndjson, csv, xml"),
        ({"delimiter": ";"}, "unknown format None"),
        ("csv+bz2", "unknown compression 'bz2'"),
        ("xml", "xml needs record_tag"),
        ({"format": "csv", "record_tag": "x"}, "csv takes no option 'record_tag'"),
        ({"format": "json", "delimiter": ","}, "json takes no option 'delimiter' (its options: none)"),
        ({"format": "csv", "member": "a.csv"}, "needs compression 'zip'"),
        ({"format": "csv", "compression": "zip", "member": ""}, "member must be"),
        ({"format": "csv", "encoding": "nope"}, "encoding 'nope'"),
        (42, "not int"),
    ],
)
def test_decoder_for_refuses_naming_the_field(spec: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        decoder_for(spec)
    assert caught.value.field == "decoder"
    assert str(caught.value).startswith("field 'decoder': ") and fragment in str(caught.value), str(caught.value)


# -- End to end, from a real HTTP server ----------------------------------------------------------------------------

EXPORTS = [
    ("/export.csv", "csv", RECORDS),
    ("/export.jsonl", "jsonl", RECORDS),
    ("/export.xml", {"format": "xml", "record_tag": "item"}, [xml_record(r) for r in RECORDS]),
    ("/export.csv.gz", "csv+gzip", RECORDS),
    ("/export.zip", "csv+zip", RECORDS),
    ("/export-two.zip", {"format": "jsonl", "compression": "zip", "member": "export.jsonl"}, RECORDS),
]


@pytest.fixture(scope="module")
def exports() -> Iterator[ExportsEmulator]:
    with ExportsEmulator() as emulator:
        yield emulator


def test_the_emulator_serves_what_the_decoders_expect(exports: ExportsEmulator) -> None:
    """The samples are what they claim (compared with the standard library), and they are sent chunked."""
    with httpx.Client(base_url=exports.url) as client:
        response = client.get("/export.csv")
        assert response.headers["transfer-encoding"] == "chunked" and "content-length" not in response.headers
        assert list(csv.DictReader(io.StringIO(response.text, newline=""))) == RECORDS
        assert any("\n" in r["note"] for r in RECORDS) and any("\u00eb" in r["name"] for r in RECORDS)
        assert gzip.decompress(client.get("/export.csv.gz").content) == csv_bytes()
        names = zipfile.ZipFile(io.BytesIO(client.get("/export-two.zip").content)).namelist()
        assert names == ["export.csv", "export.jsonl"]
        assert client.get("/export.xml").content == xml_bytes()


@pytest.mark.parametrize(("path", "spec", "expected"), EXPORTS, ids=[e[0] for e in EXPORTS])
def test_streams_from_httpx_sync(exports: ExportsEmulator, path: str, spec: Any, expected: list[Any]) -> None:
    decoder = decoder_for(spec)
    with httpx.Client(base_url=exports.url) as client:
        for chunk in (997, 1, 65536):
            with client.stream("GET", path, params={"chunk": chunk}) as response:
                response.raise_for_status()
                assert list(decoder.records(response.iter_bytes())) == expected, chunk


@pytest.mark.parametrize(("path", "spec", "expected"), EXPORTS, ids=[e[0] for e in EXPORTS])
def test_streams_from_httpx_async(exports: ExportsEmulator, path: str, spec: Any, expected: list[Any]) -> None:
    decoder = decoder_for(spec)

    async def main() -> list[Any]:
        async with (
            httpx.AsyncClient(base_url=exports.url) as client,
            client.stream("GET", path, params={"chunk": 997}) as response,
        ):
            response.raise_for_status()
            return [record async for record in decoder.arecords(response.aiter_bytes())]

    assert asyncio.run(main()) == expected


def test_async_errors_are_the_same(exports: ExportsEmulator) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"a": 1}\n'
        yield b"{broken\n"

    async def main() -> list[Any]:
        return [record async for record in JsonLinesDecoder().arecords(chunks())]

    with pytest.raises(ApiResponseError, match="jsonl: line 2"):
        asyncio.run(main())


def test_the_docs_sample_reads_the_export(exports: ExportsEmulator) -> None:
    """docs/extraction.md's Decoders sample, as the page includes it."""
    spec = importlib.util.spec_from_file_location("decoders_sample", ROOT / "docs" / "examples" / "decoders_sample.py")
    assert spec and spec.loader
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    assert sample.read_export(exports.url) == RECORDS
    assert asyncio.run(sample.aread_export(exports.url)) == RECORDS


GENERATED_ROWS = 550_000  # 50.6 MB of CSV, 23.7 MB gzip'd


@pytest.mark.slow
def test_a_50_mb_export_streams_in_bounded_memory(exports: ExportsEmulator) -> None:
    """A 50 MB CSV (23.7 MB gzip'd, made as it is sent) decoded over HTTP with a peak under 16 MB of Python
    allocations (tracemalloc: this process, the emulator's thread included; a bound on bytes, not time).

    Why 16 MB: a decoder holding the body would need over 50 MB for the CSV (more as text), or 23.7 MB for the
    compressed bytes alone, and the rows as dicts several times that: each fails. Streaming holds one httpx chunk
    (at most 64 KiB), one 64 KiB piece of decompressed CSV, its text and one parse batch (under 1 MB together),
    one row, plus the emulator's zlib state and httpx's buffers: a few MB at most."""
    before = exports.generated_bytes, exports.sent_bytes
    count = 0
    decoder = decoder_for("csv+gzip")
    tracemalloc.start()
    try:
        with (
            httpx.Client(base_url=exports.url, timeout=120) as client,
            client.stream("GET", "/generated.csv.gz", params={"rows": GENERATED_ROWS}) as response,
        ):
            response.raise_for_status()
            for record in decoder.records(response.iter_bytes()):
                count += 1
                if count % 997 == 0 or count == GENERATED_ROWS:  # spot checks; every row would double the time
                    assert record == generated_row(count)
                elif record["id"] != str(count):
                    raise AssertionError(f"row {count} is {record['id']}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    made, sent = exports.generated_bytes - before[0], exports.sent_bytes - before[1]
    assert count == GENERATED_ROWS
    assert made > 50_000_000 and sent > 20_000_000, (made, sent)  # the bound is below what buffering needs
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB of Python allocations while decoding"
