"""Streamed answers: what a call with a `decoder` may have (`check_streamed`), and a streamed body read record by
record (`records`, `arecords`) or counted page by page for its paginator (`Tally`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import httpx

from airflow_provider_authapi.api.decoders import Decoder, DecoderSpec, decoder_for
from airflow_provider_authapi.api.pagination import (
    BasePaginator,
    CursorPaginator,
    HeaderLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PaginatorSpec,
    ResponseSource,
    get_paginator,
)
from airflow_provider_authapi.api.rules import ResponseActionsSpec, ResponseRules
from airflow_provider_authapi.auth.errors import ApiResponseError, ApiTransportError, ConfigError
from airflow_provider_authapi.auth.retry import BodyCutShort, BodyStalled, aiter_streamed, iter_streamed

RAW = "raw"  # decoder="raw": the body's bytes to a file, unchanged
DECODER = "decoder"  # the field a streamed call's refusals name
BATCH_RECORDS = 500  # decoded records handed to the writer at a time


def check_streamed(
    decoder: DecoderSpec,
    *,
    paginator: PaginatorSpec = None,
    response_filter: Any = None,
    response_check: Any = None,
    concurrency: int = 1,
    response_actions: ResponseRules | ResponseActionsSpec = None,
) -> Decoder | str:
    """The decoder of `decoder_for(decoder)`, or `RAW`, after checking the rest of the call can go with it; what
    cannot raises `ConfigError` naming `decoder`: a filter or check (they read a parsed JSON body; a decoder's
    records are already records), concurrency (one answer streams at a time), a paginator that reads the body
    (see `body_reads`), pagination of a raw file, a response rule on the content or a path of a 2xx body (a 2xx
    body is streamed to records, unread by the rules; an error answer's is read, so rules on those may)."""
    streamed: Decoder | str = RAW if is_raw(decoder) else decoder_for(decoder)
    what = f"decoder={decoder!r}" if not isinstance(decoder, Decoder) else f"decoder {decoder!r}"
    if response_filter is not None:
        raise ConfigError(DECODER, f"{what}: response_filter picks records out of a JSON body, and a decoder's "
                          "records are the body's own: leave response_filter out")  # fmt: skip
    if response_check is not None:
        raise ConfigError(DECODER, f"{what}: response_check reads a parsed JSON body, which a streamed answer is "
                          "not: leave response_check out")  # fmt: skip
    if concurrency != 1:
        raise ConfigError(DECODER, f"{what} streams one answer at a time: concurrency must be 1, not {concurrency!r}")
    built = get_paginator(paginator)
    if built is not None and streamed == RAW:
        raise ConfigError(DECODER, "decoder='raw' writes one answer's bytes to output_path: it takes no pagination")
    if built is not None and (reads := body_reads(built)):
        raise ConfigError(
            DECODER,
            f"{what}: the {built.name or type(built).__name__} paginator reads {reads} from a JSON body, which a "
            "decoder's answer is not. With a decoder, page by header_link, offset or page_number without totals "
            "(they stop on an empty or short page), or cursor with cursor_path 'header:...' or 'last_record:...'",
        )
    rules = ResponseRules.of(response_actions) if response_actions is not None else ()
    for rule in rules:
        if (rule.content is not None or rule.path is not None) and (
            not rule.status or any(200 <= status < 300 for status in rule.status)
        ):
            raise ConfigError(
                DECODER,
                f"{what}: {rule.describe()} reads the body of a 2xx answer, which is streamed to records, not read "
                "by the rules; give the rule error statuses (their bodies are read, up to 64 KiB), or a status alone",
            )
    return streamed


def is_raw(decoder: Any) -> bool:
    """Whether `decoder` is `"raw"`: the bytes to a file, unchanged."""
    return isinstance(decoder, str) and decoder.strip().lower() == RAW


def body_reads(paginator: BasePaginator) -> str | None:
    """What `paginator` reads from a JSON body, or None when it pages on headers, counts and the last record only
    (the paginators a decoder's answers can have: their `update_state` gets no body)."""
    kind = type(paginator)
    if kind is HeaderLinkPaginator:
        return None
    reads: list[str] = []
    if kind is OffsetPaginator:
        reads += [f"total_path {paginator.total_path!r}"] if paginator.total_path else []
    elif kind is PageNumberPaginator:
        reads += [f"{name} {getattr(paginator, name)!r}" for name in ("total_pages_path", "total_records_path")
                  if getattr(paginator, name)]  # fmt: skip
    elif kind is CursorPaginator:
        reads += [f"cursor_path {paginator.cursor_path!r}"] if _in_body(paginator.cursor_path) else []
    else:
        return "its next page"
    has_more = getattr(paginator, "has_more_path", None)
    reads += [f"has_more_path {has_more!r}"] if has_more and _in_body(has_more) else []
    return ", ".join(reads) or None


def _in_body(source: str) -> bool:
    return ResponseSource(source).place == "body"


class Tally:
    """What a paginator sees of a streamed page, whose records went on to the writer: their count and the last
    (`len(records)`, `records[-1]`)."""

    def __init__(self) -> None:
        self.count, self.last = 0, None

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Any:
        if self.count and index in (-1, self.count - 1):
            return self.last
        raise IndexError("a streamed page keeps only its last record")

    def _took(self, batch: list[Any]) -> list[Any]:
        self.count += len(batch)
        self.last = batch[-1]
        return batch

    def batches(self, records: Iterator[Any]) -> Iterator[list[Any]]:
        """`records` in lists of at most `BATCH_RECORDS`, counted."""
        batch: list[Any] = []
        for record in records:
            batch.append(record)
            if len(batch) >= BATCH_RECORDS:
                yield self._took(batch)
                batch = []
        if batch:
            yield self._took(batch)

    async def abatches(self, records: AsyncIterator[Any]) -> AsyncIterator[list[Any]]:
        batch: list[Any] = []
        async with aclosing(records):  # type: ignore[type-var]
            async for record in records:
                batch.append(record)
                if len(batch) >= BATCH_RECORDS:
                    yield self._took(batch)
                    batch = []
        if batch:
            yield self._took(batch)


def body_chunks(response: httpx.Response, label: str) -> Iterator[bytes]:
    """`retry.iter_streamed`, a stalled or broken body as `ApiTransportError` (its message names the request)."""
    try:
        yield from iter_streamed(response, label)
    except (BodyStalled, BodyCutShort) as exc:
        raise ApiTransportError(str(exc)) from None


async def abody_chunks(response: httpx.Response, label: str) -> AsyncIterator[bytes]:
    try:
        async with aclosing(aiter_streamed(response, label)) as chunks:
            async for chunk in chunks:
                yield chunk
    except (BodyStalled, BodyCutShort) as exc:
        raise ApiTransportError(str(exc)) from None


def decoded_records(decoder: Decoder, response: httpx.Response, label: str, where: str) -> Iterator[Any]:
    """The records of a streamed answer; a body that does not decode names `where` (the page) first."""
    try:
        yield from decoder.records(body_chunks(response, label))
    except ApiResponseError as exc:
        raise ApiResponseError(f"{where}: {exc}") from None


async def adecoded_records(decoder: Decoder, response: httpx.Response, label: str, where: str) -> AsyncIterator[Any]:
    try:
        async with aclosing(decoder.arecords(abody_chunks(response, label))) as records:  # type: ignore[type-var]
            async for record in records:
                yield record
    except ApiResponseError as exc:
        raise ApiResponseError(f"{where}: {exc}") from None
