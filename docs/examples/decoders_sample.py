"""The Decoders section's sample (docs/extraction.md includes it): an export streamed to records, sync and async.

Run by tests/api/test_decoders.py against the exports emulator (Airflow-free: plain httpx).
"""

from __future__ import annotations

from typing import Any

import httpx

# [START decoders]
from airflow_provider_authapi.api.decoders import decoder_for

decoder = decoder_for({"format": "csv", "delimiter": ",", "compression": "gzip"})


def read_export(base_url: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=base_url) as client, client.stream("GET", "/export.csv.gz") as response:
        response.raise_for_status()
        return list(decoder.records(response.iter_bytes()))  # one record at a time; a list here for the test


async def aread_export(base_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url) as client, client.stream("GET", "/export.csv.gz") as response:
        response.raise_for_status()
        return [record async for record in decoder.arecords(response.aiter_bytes())]


# [END decoders]
