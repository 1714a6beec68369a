"""A local export server: one small dataset as CSV, JSON Lines, XML, gzip'd CSV and zip, every body sent chunked.

    with ExportsEmulator() as api:
        with httpx.Client().stream("GET", api.url + "/export.csv") as response:
            CsvDecoder().records(response.iter_bytes())

- GET /export.csv, /export.jsonl, /export.xml   `RECORDS` in that format (CSV: header row, CRLF, quoted fields
                                                 with commas, quotes and line breaks; XML: `<item id="..">`)
- GET /export.csv.gz                            the CSV, gzip'd (`application/gzip`, no Content-Encoding)
- GET /export.zip                               a zip holding export.csv alone
- GET /export-two.zip                           a zip holding export.csv and export.jsonl
- GET /generated.csv.gz?rows=N                  N generated rows (`generated_row`), gzip'd as they are produced:
                                                 never whole in memory; `generated_bytes` / `sent_bytes` count
                                                 the CSV made and the compressed bytes sent

Bodies go out `?chunk=` bytes at a time (997 by default, so the cuts fall everywhere; the generated export sends
each compressed piece as it comes).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from tests.emulators.base import Emulator, Request, Response

FIELDS = ["id", "name", "amount", "note"]
NOTES = ["plain", 'multi\nline, with "quotes"', "comma, inside", "", "tab\there", 'Größe 12" (30 cm)\r\nsecond']
NAMES = ["Zoë", "José, Jr.", "李小龙", "O'Brien", "Ann", "Łukasz"]
RECORDS: list[dict[str, str]] = [
    {"id": str(i), "name": NAMES[i % len(NAMES)], "amount": f"{i * 12.5:.2f}", "note": NOTES[i % len(NOTES)]}
    for i in range(1, 41)
]
GENERATED_FIELDS = ["id", "token", "name", "amount", "note"]


def csv_bytes(records: list[dict[str, str]] = RECORDS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, FIELDS)
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


def jsonl_bytes(records: list[dict[str, str]] = RECORDS) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def xml_bytes(records: list[dict[str, str]] = RECORDS) -> bytes:
    items = "".join(
        f"\n    <item id={quoteattr(r['id'])}><name>{escape(r['name'])}</name><amount>{r['amount']}</amount>"
        f"<note>{escape(r['note'])}</note></item>"
        for r in records
    )
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<export count="{len(records)}">\n'
    return f"{head}  <items>{items}\n  </items>\n</export>\n".encode()


def xml_record(record: dict[str, str]) -> dict[str, Any]:
    """What `XmlDecoder("item")` makes of one `<item>` of `xml_bytes` (an empty note is None)."""
    note = record["note"].replace("\r\n", "\n") or None  # XML parsers normalise line breaks to \n
    return {"@id": record["id"], "name": record["name"], "amount": record["amount"], "note": note}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def generated_token(i: int) -> str:
    """48 hex digits that look random (a multiplicative hash of `i`): they compress to about half."""
    return f"{(i * 0x9E3779B97F4A7C15F39CC0605CEDC8341082276BF3A27251) & ((1 << 192) - 1):048x}"


def generated_row(i: int) -> dict[str, str]:
    """Row `i` (from 1) of the generated export; every 10th has a quoted note with a comma and a line break."""
    note = f'first line, {i}\nsecond "line"' if i % 10 == 0 else f"note {i}"
    return {"id": str(i), "token": generated_token(i), "name": f"name-{i}", "amount": f"{i * 0.25:.2f}", "note": note}


def generated_csv(rows: int, batch: int = 2000) -> Iterator[str]:
    """The generated export's CSV text (`generated_row`s as `csv.writer` writes them), `batch` rows at a time."""
    yield ",".join(GENERATED_FIELDS) + "\r\n"
    lines: list[str] = []
    for i in range(1, rows + 1):
        note = f'"first line, {i}\nsecond ""line"""' if i % 10 == 0 else f"note {i}"
        lines.append(f"{i},{generated_token(i)},name-{i},{i * 0.25:.2f},{note}\r\n")
        if len(lines) == batch:
            yield "".join(lines)
            lines.clear()
    if lines:
        yield "".join(lines)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class ExportsEmulator(Emulator):
    def __init__(self, **kwargs: Any) -> None:
        self.generated_bytes = 0
        self.sent_bytes = 0
        csv_data = csv_bytes()
        self.bodies: dict[str, tuple[str, bytes]] = {
            "/export.csv": ("text/csv; charset=utf-8", csv_data),
            "/export.jsonl": ("application/x-ndjson", jsonl_bytes()),
            "/export.xml": ("application/xml", xml_bytes()),
            "/export.csv.gz": ("application/gzip", gzip_bytes(csv_data)),
            "/export.zip": ("application/zip", zip_bytes({"export.csv": csv_data})),
            "/export-two.zip": ("application/zip", zip_bytes({"export.csv": csv_data, "export.jsonl": jsonl_bytes()})),
        }
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("GET", r"/export(-two)?\.(csv|jsonl|xml|csv\.gz|zip)", self.export)
        self.route("GET", r"/generated\.csv\.gz", self.generated)

    def export(self, request: Request) -> Response:
        if request.path not in self.bodies:
            return Response.json({"error": "not_found", "path": request.path}, status=404)
        content_type, data = self.bodies[request.path]
        size = int(request.query.get("chunk", 997))
        return Response(headers={"Content-Type": content_type}, chunks=pieces(data, size))

    def generated(self, request: Request) -> Response:
        return Response(headers={"Content-Type": "application/gzip"}, chunks=self._generate(int(request.query["rows"])))

    def _generate(self, rows: int) -> Iterator[bytes]:
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        for text in generated_csv(rows):
            data = text.encode()
            with self.lock:
                self.generated_bytes += len(data)
            out = compressor.compress(data)
            if out:
                with self.lock:
                    self.sent_bytes += len(out)
                yield out
        out = compressor.flush()
        with self.lock:
            self.sent_bytes += len(out)
        yield out
