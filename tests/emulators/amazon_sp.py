"""Amazon Selling Partner API, Reports 2021-06-30: a report created, polled until DONE, its document downloaded from
a presigned URL on another origin (S3), gzip'd tab-separated text.

As documented at https://developer-docs.amazon.com/sp-api/docs/reports-api-v2021-06-30-reference and
https://developer-docs.amazon.com/sp-api/docs/connecting-to-the-selling-partner-api:

- Auth: Login with Amazon, `POST /auth/o2/token` (api.amazon.com) with the form `grant_type=refresh_token`,
  `refresh_token` (`Atzr|...`), `client_id` and `client_secret` (in the form, not a Basic header) ->
  `{"access_token": "Atza|...", "refresh_token": <the same>, "token_type": "bearer", "expires_in": 3600}`; errors
  `{"error": "invalid_client" | "invalid_grant" | "unsupported_grant_type", "error_description"}`. Every API call
  carries the access token in `x-amz-access-token` (no prefix, no Authorization header); without a live one, 403
  `{"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.", "details": ...}]}`.
- `POST /reports/2021-06-30/reports` `{"reportType", "marketplaceIds", "dataStartTime"?, ...}` -> 202
  `{"reportId"}`; a body without them: 400 `InvalidInput`.
- `GET /reports/2021-06-30/reports/{reportId}` -> `{"reportId", "reportType", "processingStatus", "marketplaceIds",
  "createdTime", "processingStartTime"?, "processingEndTime"?, "reportDocumentId"?}`: `IN_QUEUE` on the first poll,
  `IN_PROGRESS` until the `polls_to_done`-th, then `outcome` (`DONE`; `FATAL`, whose document holds the error
  details, also for a `dataEndTime` before the `dataStartTime`; `CANCELLED`, no document). `DELETE` on it cancels
  a report still `IN_QUEUE` (cancelReport).
- `GET /reports/2021-06-30/reports?reportTypes=...` -> `{"reports": [...]}` (getReports).
- `GET /reports/2021-06-30/documents/{reportDocumentId}` -> `{"reportDocumentId", "url", "compressionAlgorithm":
  "GZIP"}` (no `compressionAlgorithm` for a document stored as is): `url` a presigned S3 URL, good for 5 minutes.

`PresignedBucket`, the S3 side, listens on a port of its own: it serves an object only for a URL signed with its key
and not expired (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
`X-Amz-Signature`), and answers 400 `InvalidArgument` to any request that also carries an `Authorization` or an
`x-amz-access-token` header ("Only one auth mechanism allowed"), as S3 does; `seen` and `queries` keep every
request's headers and query.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from tests.emulators.base import Emulator, Request, Response
from tests.emulators.exports import gzip_bytes, pieces
from tests.emulators.tokens import Clock, TokenApi, TokenRegistry, oauth_error

TOKEN_PATH = "/auth/o2/token"
REPORTS = "/reports/2021-06-30/reports"
DOCUMENTS = "/reports/2021-06-30/documents"
REPORT_ROUTE = rf"{REPORTS}/([^/]+)"
DOCUMENT_ROUTE = rf"{DOCUMENTS}/([^/]+)"
LISTINGS = "GET_FLAT_FILE_OPEN_LISTINGS_DATA"
MARKETPLACE = "ATVPDKIKX0DER"  # amazon.com
LISTING_FIELDS = ["sku", "asin", "item-name", "price", "quantity"]
NAMES = ["Trinkflasche Größe M", "Café mug, 350 ml", "木製スプーン", "Ørsted's lamp", "Plain tee"]
FINAL = {"DONE", "FATAL", "CANCELLED"}
AMZ_DATE = "%Y%m%dT%H%M%SZ"


def listing(n: int) -> dict[str, str]:
    """Row `n` (from 1) of the open listings report, as the decoder reads it."""
    return {
        "sku": f"SKU-{n:05d}",
        "asin": f"B0{n:08d}",
        "item-name": NAMES[n % len(NAMES)],
        "price": f"{n * 1.25:.2f}",
        "quantity": str(n % 17),
    }


def listings_tsv(rows: int) -> bytes:
    """The report's document: a header row, then `rows` listings, tab-separated, UTF-8 (Amazon's flat files)."""
    lines = ["\t".join(LISTING_FIELDS)]
    lines += ["\t".join(listing(n)[name] for name in LISTING_FIELDS) for n in range(1, rows + 1)]
    return ("\r\n".join(lines) + "\r\n").encode()


def _amz_errors(status: int, code: str, message: str, details: str = "") -> Response:
    return Response.json({"errors": [{"code": code, "message": message, "details": details}]}, status=status)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _s3_error(status: int, code: str, message: str, **more: str) -> Response:
    fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in more.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
    body += f"{fields}<RequestId>4442587FB7D0A2F9</RequestId></Error>"
    return Response(status, body.encode(), {"Content-Type": "application/xml"})


class PresignedBucket(Emulator):
    """The S3 bucket behind the presigned document URLs (see the module docstring)."""

    QUERY = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")

    def __init__(self, clock: Clock | None = None, bucket: str = "tortuga-prod-na", **kwargs: Any) -> None:
        self.clock = clock or Clock()
        self.bucket = bucket
        self.access_key_id = "AKIAEMULATOR7EXAMPLE"
        self._signing_key = secrets.token_bytes(32)
        self.objects: dict[str, bytes] = {}
        self.seen: list[dict[str, str]] = []  # the headers of every request
        self.queries: list[str] = []  # and its query string, as sent
        self.refusals: list[str] = []
        self.served = 0
        self._objects_lock = threading.Lock()
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("GET", r"/([^/]+)/(.+)", self.get_object)

    def put(self, key: str, data: bytes) -> None:
        with self._objects_lock:
            self.objects[key] = data

    def presign(self, key: str, expires: int = 300) -> str:
        """A URL for GET of `key`, signed now, good for `expires` seconds."""
        path = f"/{self.bucket}/{quote(key)}"
        date = datetime.fromtimestamp(self.clock.now(), timezone.utc).strftime(AMZ_DATE)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self.access_key_id}/{date[:8]}/us-east-1/s3/aws4_request",
            "X-Amz-Date": date,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
        query["X-Amz-Signature"] = self._signature(path, query)
        return f"{self.url}{path}?{urlencode(query)}"

    def _signature(self, path: str, query: dict[str, str]) -> str:
        signed = "\n".join(["GET", path, *(query.get(name, "") for name in self.QUERY)])
        return hmac.new(self._signing_key, signed.encode(), hashlib.sha256).hexdigest()

    def get_object(self, request: Request) -> Response:
        with self.lock:
            self.seen.append(dict(request.headers))
            self.queries.append(request.raw_query)
        for header in ("authorization", "x-amz-access-token"):
            if request.header(header) is not None:
                self.refusals.append(f"{header} header with a presigned URL")
                return _s3_error(
                    400,
                    "InvalidArgument",
                    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                    "string parameter or the Authorization header should be specified",
                    ArgumentName="Authorization",
                    ArgumentValue=request.header(header) or "",
                )
        query = request.query
        if any(name not in query for name in (*self.QUERY, "X-Amz-Signature")):
            self.refusals.append("not presigned")
            return _s3_error(403, "AccessDenied", "Query-string authentication version 4 requires the "
                             "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                             "and X-Amz-Expires parameters.")  # fmt: skip
        provided = query["X-Amz-Signature"]
        if not hmac.compare_digest(provided, self._signature(request.path, query)):
            self.refusals.append("signature does not match")
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                AWSAccessKeyId=self.access_key_id,
                SignatureProvided=provided,
            )
        signed_at = datetime.strptime(query["X-Amz-Date"], AMZ_DATE).replace(tzinfo=timezone.utc).timestamp()
        if self.clock.now() > signed_at + int(query["X-Amz-Expires"]):
            self.refusals.append("expired")
            return _s3_error(403, "AccessDenied", "Request has expired", **{"X-Amz-Expires": query["X-Amz-Expires"]})
        key = request.path.split("/", 2)[2]
        with self._objects_lock:
            data = self.objects.get(key)
        if data is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        with self.lock:
            self.served += 1
        return Response(headers={"Content-Type": "application/octet-stream"}, chunks=pieces(data, 4093))


class AmazonSpEmulator(TokenApi):
    """The Reports API and Login with Amazon on one port, the presigned bucket (`bucket`) on another."""

    token_paths = (TOKEN_PATH,)

    def __init__(
        self,
        client_id: str = "amzn1.application-oa2-client.0e1d2c3b4a5968778695a4b3c2d1e0f1",
        client_secret: str = "amzn1.oa2-cs.v1.5f0c8a1e9b2d47c6a3e1f08d9c7b6a5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b0a9f8e",
        refresh_token: str = "Atzr|IwEBIEmulatorRefreshToken0123456789abcdefEXAMPLE",
        *,
        rows: int = 250,
        polls_to_done: int = 3,
        outcome: str = "DONE",
        compress: bool = True,
        token_lifetime: float = 3600,
        **kwargs: Any,
    ) -> None:
        """Each report created is `outcome` on its `polls_to_done`-th poll (IN_QUEUE, then IN_PROGRESS, before);
        a DONE report's document is `rows` listings (`listings_tsv`), gzip'd when `compress`."""
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.rows, self.polls_to_done, self.outcome, self.compress = rows, polls_to_done, outcome, compress
        self.token_lifetime = token_lifetime
        self.reports: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.created: list[Any] = []  # each create request's body
        self.refusals: list[str] = []
        self._ids = itertools.count(53409019701)
        self._state = threading.Lock()
        super().__init__(**kwargs)
        self.access = TokenRegistry(self.clock, token_lifetime, prefix="Atza|IwEB")
        self.bucket = PresignedBucket(self.clock)

    def start(self) -> AmazonSpEmulator:
        self.bucket.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.bucket.stop()

    def setup_routes(self) -> None:
        self.route("POST", TOKEN_PATH, self.token)
        self.route("POST", REPORTS, self.create_report)
        self.route("GET", REPORTS, self.list_reports)
        self.route("GET", REPORT_ROUTE, self.get_report)
        self.route("DELETE", REPORT_ROUTE, self.cancel_report)
        self.route("GET", DOCUMENT_ROUTE, self.get_document)

    # -- Login with Amazon ----------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            return oauth_error("unsupported_grant_type", "The authorization grant type is not supported")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            self.refusals.append("client id and secret not in the form" if request.basic_auth() else "bad client")
            return oauth_error("invalid_client", "Client authentication failed", status=401)
        if form.get("refresh_token") != self.refresh_token:
            return oauth_error("invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token = self.access.issue(self.client_id)
        answer = {"access_token": token, "refresh_token": self.refresh_token, "token_type": "bearer"}
        return Response.json({**answer, "expires_in": int(self.token_lifetime)}, headers={"Cache-Control": "no-store"})

    # -- the Reports API --------------------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        if request.path.startswith("/reports/"):
            token = request.header("x-amz-access-token")
            if token is None or self.access.check(token) is None:
                expired = token is not None and self.access.expires_at(token) is not None
                why = "The access token you provided has expired." if expired else (
                    "The access token you provided is revoked, malformed or invalid." if token else "")  # fmt: skip
                self.refusals.append(why or "no x-amz-access-token header")
                return _amz_errors(403, "Unauthorized", "Access to requested resource is denied.", why)
        return super()._handle(request)

    def create_report(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return _amz_errors(400, "InvalidInput", "The request body is not valid JSON.")
        self.created.append(body)
        if not isinstance(body, dict) or not isinstance(body.get("reportType"), str):
            return _amz_errors(400, "InvalidInput", "Missing required 'reportType' in the request body.")
        if not isinstance(body.get("marketplaceIds"), list) or not body["marketplaceIds"]:
            return _amz_errors(400, "InvalidInput", "Missing required 'marketplaceIds' in the request body.")
        outcome = self.outcome
        if str(body.get("dataEndTime", "9")) < str(body.get("dataStartTime", "0")):  # a range that ends first
            outcome = "FATAL"
        with self._state:
            report_id = str(next(self._ids))
            self.reports[report_id] = {
                "reportId": report_id,
                "reportType": body["reportType"],
                "marketplaceIds": body["marketplaceIds"],
                "createdTime": _iso(self.clock.now()),
                "processingStatus": "IN_QUEUE",
                **{key: body[key] for key in ("dataStartTime", "dataEndTime") if key in body},
                "_polls": 0,
                "_plan": (self.polls_to_done, outcome, self.rows, self.compress),
            }
        return Response.json({"reportId": report_id}, status=202)

    def get_report(self, request: Request) -> Response:
        assert request.match is not None
        with self._state:
            report = self.reports.get(request.match.group(1))
            if report is None:
                return _amz_errors(404, "NotFound", "The report was not found.")
            if report["processingStatus"] not in FINAL:
                self._advance(report)
            return Response.json({key: value for key, value in report.items() if not key.startswith("_")})

    def _advance(self, report: dict[str, Any]) -> None:
        polls_to_done, outcome, rows, compress = report["_plan"]
        report["_polls"] += 1
        if report["_polls"] < polls_to_done:
            report["processingStatus"] = "IN_QUEUE" if report["_polls"] == 1 else "IN_PROGRESS"
            if report["_polls"] > 1:
                report.setdefault("processingStartTime", _iso(self.clock.now()))
            return
        report["processingStatus"] = outcome
        report["processingEndTime"] = _iso(self.clock.now())
        if outcome == "DONE":
            report["reportDocumentId"] = self._document(listings_tsv(rows), compress)
        elif outcome == "FATAL":  # the document holds what went wrong
            details = {"errorDetails": "The report could not be generated: the date range is too long."}
            report["reportDocumentId"] = self._document(json.dumps(details).encode(), compress)

    def _document(self, data: bytes, compress: bool) -> str:
        document_id = f"amzn1.spdoc.1.4.na.{uuid.uuid4()}"
        key = f"NinetyDays/amzn1.tortuga.4.na.{uuid.uuid4()}.T{secrets.token_hex(6).upper()}"
        self.bucket.put(key, gzip_bytes(data) if compress else data)
        self.documents[document_id] = {"key": key, "compress": compress}
        return document_id

    def cancel_report(self, request: Request) -> Response:
        assert request.match is not None
        with self._state:
            report = self.reports.get(request.match.group(1))
            if report is None:
                return _amz_errors(404, "NotFound", "The report was not found.")
            if report["processingStatus"] != "IN_QUEUE":
                return _amz_errors(400, "InvalidInput", "Only reports that are IN_QUEUE can be cancelled.")
            report["processingStatus"] = "CANCELLED"
            report["processingEndTime"] = _iso(self.clock.now())
        return Response(200)

    def list_reports(self, request: Request) -> Response:
        types = [name for name in (request.query.get("reportTypes") or "").split(",") if name]
        if not types:
            return _amz_errors(400, "InvalidInput", "reportTypes or nextToken is required.")
        with self._state:
            found = [
                {key: value for key, value in report.items() if not key.startswith("_")}
                for report in self.reports.values()
                if report["reportType"] in types
            ]
        return Response.json({"reports": found})

    def get_document(self, request: Request) -> Response:
        assert request.match is not None
        document_id = request.match.group(1)
        document = self.documents.get(document_id)
        if document is None:
            return _amz_errors(404, "NotFound", "The report document was not found.")
        answer = {"reportDocumentId": document_id, "url": self.bucket.presign(document["key"])}
        if document["compress"]:
            answer["compressionAlgorithm"] = "GZIP"
        return Response.json(answer)

    # -- for the demo and the tests ----------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Amazon Selling Partner API (Reports)",
            "url": self.url,
            "presigned origin": self.bucket.url,
            "credentials": {
                "LWA client id (login)": self.client_id,
                "LWA client secret (password)": self.client_secret,
                "refresh token": self.refresh_token,
            },
            "connection": {
                "conn_type": "authapi_oauth2",
                "host": self.url,
                "login": self.client_id,
                "password": self.client_secret,
                "extra": {
                    "grant_type": "refresh_token",
                    "refresh_token": self.refresh_token,
                    "login_url": self.url + TOKEN_PATH,
                    "client_auth": "body",
                    "header_name": "x-amz-access-token",
                    "header_prefix": "",
                },
            },
        }
