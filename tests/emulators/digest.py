"""An HTTP Digest server (RFC 7616) that checks every answer to its challenge, with MD5 or SHA-256.

- A request without `Authorization: Digest ...`, or with a wrong one, gets 401 and the challenge
  `WWW-Authenticate: Digest realm="...", qop="auth", algorithm=<MD5|SHA-256>, nonce="...", opaque="..."`;
  an answer to a nonce this server has since retired (after `nonce_uses` answers) gets the same with
  `stale=true` (RFC 7616 section 3.3).
- An answer is accepted when, as RFC 7616 section 3.4.1 computes it,
  `response == H(H(username:realm:password):nonce:nc:cnonce:qop:H(method:uri))`, `uri` is the request's own
  target, the realm, algorithm, opaque and nonce are this server's, `qop` is `auth`, and `nc` is higher than any
  count seen for that nonce (a replayed answer is refused).
- `GET /whoami` (with any query) then answers `{"user", "algorithm", "nc", "query"}`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import parse_http_list, parse_keqv_list

from tests.emulators.base import Emulator, Request, Response

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class DigestServer(Emulator):
    realm = "digest-emulator@127.0.0.1"

    def __init__(
        self,
        user: str = "digest-user",
        password: str = "digest-password-0123",
        algorithm: str = "SHA-256",
        *,
        nonce_uses: int | None = None,
        **kw: Any,
    ) -> None:
        if algorithm not in HASHES:
            raise ValueError(f"algorithm must be one of {', '.join(HASHES)}")
        self.user, self.password, self.algorithm, self.nonce_uses = user, password, algorithm, nonce_uses
        self.opaque = secrets.token_hex(8)
        self.nonces: dict[str, int] = {}  # live nonce -> highest nonce count seen
        self.challenges = 0  # 401s sent
        self.accepted: list[int] = []  # the nonce count of every accepted answer
        super().__init__(**kw)

    def setup_routes(self) -> None:
        self.route("GET", r"/whoami", self.whoami)

    def whoami(self, request: Request) -> Response:
        header = request.header("authorization") or ""
        if not header.lower().startswith("digest "):
            return self.challenge()
        answer = parse_keqv_list(parse_http_list(header[len("digest ") :]))
        problem = self.check(request, answer)
        if problem == "stale":
            return self.challenge(stale=True)
        if problem:
            return self.challenge(problem)
        return Response.json(
            {"user": answer["username"], "algorithm": answer["algorithm"], "nc": int(answer["nc"], 16),
             "query": request.query}
        )  # fmt: skip

    def check(self, request: Request, answer: dict[str, str]) -> str | None:
        """None for a valid answer, else what is wrong with it ("stale" for a retired nonce)."""
        needed = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "opaque")
        if any(name not in answer for name in needed):
            return "missing parameters"
        if (answer["realm"], answer["opaque"], answer.get("algorithm", "MD5")) != (
            self.realm,
            self.opaque,
            self.algorithm,
        ):
            return "wrong realm, opaque or algorithm"
        if answer["qop"] != "auth" or answer["username"] != self.user:
            return "wrong qop or user"
        target = urlsplit(answer["uri"])
        if target.path != request.path or {k: v[-1] for k, v in parse_qs(target.query).items()} != request.query:
            return "uri is not the request target"
        h = HASHES[self.algorithm]

        def digest(text: str) -> str:
            return h(text.encode()).hexdigest()

        ha1 = digest(f"{self.user}:{self.realm}:{self.password}")
        ha2 = digest(f"{request.method}:{answer['uri']}")
        expected = digest(f"{ha1}:{answer['nonce']}:{answer['nc']}:{answer['cnonce']}:auth:{ha2}")
        if not hmac.compare_digest(expected, answer["response"]):
            return "wrong response"
        count = int(answer["nc"], 16)
        with self.lock:
            if answer["nonce"] not in self.nonces:
                return "stale"
            if count <= self.nonces[answer["nonce"]]:
                return "replayed nonce count"
            self.nonces[answer["nonce"]] = count
            self.accepted.append(count)
            if self.nonce_uses is not None and count >= self.nonce_uses:
                del self.nonces[answer["nonce"]]  # retired: the next answer to it is stale
        return None

    def challenge(self, why: str | None = None, *, stale: bool = False) -> Response:
        nonce = secrets.token_hex(16)
        with self.lock:
            self.nonces[nonce] = 0
            self.challenges += 1
        value = (
            f'Digest realm="{self.realm}", qop="auth", algorithm={self.algorithm}, nonce="{nonce}", '
            f'opaque="{self.opaque}"' + (", stale=true" if stale else "")
        )
        return Response.json({"error": why or "authentication required"}, 401, {"WWW-Authenticate": value})
