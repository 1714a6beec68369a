"""`response_actions`: rules that say what an answer means before its body is used, one small class per job.

    rules = ResponseRules.of([
        {"status": 200, "content": "rate limited", "action": "retry"},
        {"path": "error.code", "value": "TOKEN_EXPIRED", "action": "refresh"},
        {"status": [404, 410], "action": "empty"},
    ])
    rules.match(response)         # the first rule whose conditions all hold, or None

A rule's conditions (all given must hold, at least one given): `status` (a number or a list of them), `content`
(a substring of the body text, case-sensitive), `path` + `value` (the value at a path in the JSON body, in the one
path language, `auth/json_path.py`, equals `value`), `predicate` (a callable `(response) -> bool`, or its import
path `"package.module.function"`). Its `action`:

- `empty`: a page of no records (a run that stops on an empty page stops there); `ignore` is another name for it.
- `skip`: the page is left out (offsets and page numbers go on to the next).
- `retry`: the request again under the request's `RetryPolicy`, as a 429 or 5xx is (backoff, attempts,
  `Retry-After`), whatever its method; still matching after the last attempt: `RuleRetryError`.
- `refresh`: the token the request carried is renewed, as after a 401 (`TokenRefresh`), and the request is sent
  once more; matching a `refresh` rule again: `RuleRefreshError`.
- `fail`: `RuleFailError`, naming the rule, with an excerpt of the answer scrubbed of secrets.

The mapping form `{404: "empty", 409: "skip"}` is status-only rules, in that order. Errors name a rule as
`response_actions[<list index>]` (or `response_actions[<status>]` in the mapping form).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_authapi.auth.config import import_object
from airflow_provider_authapi.auth.errors import ApiResponseError, ConfigError
from airflow_provider_authapi.auth.json_path import MISSING, find_path, parse_path

if TYPE_CHECKING:
    from airflow_provider_authapi.auth.tokens import TokenManager

FIELD = "response_actions"
PAGE_ACTIONS = ("empty", "skip", "ignore")  # what the page loop does with the answer
SEND_ACTIONS = ("retry", "refresh", "fail")  # what happens to the request instead
ACTIONS = (*PAGE_ACTIONS, *SEND_ACTIONS)
CONDITIONS = ("status", "content", "path", "value", "predicate")
RULE = "authapi.response_rule"  # a response extension: the rule it matched (set once, where it was judged)

Predicate = Callable[[httpx.Response], Any]
ResponseActionsSpec = Mapping[int | str, str] | Sequence[Mapping[str, Any]] | None


def _refusal(label: str, problem: str) -> ConfigError:
    return ConfigError(FIELD, f"{label.removeprefix(FIELD)}: {problem}")


def _statuses(value: Any, label: str) -> tuple[int, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in values):
        raise _refusal(label, f"status must be an HTTP status (100-599) or a list of them, not {value!r}")
    return tuple(values)


def _content(spec: Mapping[str, Any], label: str) -> str | None:
    content = spec.get("content")
    if "content" in spec and (not isinstance(content, str) or not content):
        raise _refusal(label, f"content must be a non-empty string, not {content!r}")
    return content


def _path(spec: Mapping[str, Any], label: str) -> str | None:
    if ("path" in spec) != ("value" in spec):
        raise _refusal(label, "path and value go together: the value at path in the JSON body equals value")
    path = spec.get("path")
    if path is None:
        return None
    if not isinstance(path, str):
        raise _refusal(label, f"path must be a string, not {path!r}")
    try:
        parse_path(path, field=FIELD)
    except ConfigError as exc:
        raise _refusal(label, str(exc).removeprefix(f"field {FIELD!r}: ")) from None
    return path


def _predicate(spec: Mapping[str, Any], label: str) -> tuple[Predicate | None, str | None]:
    """(the callable, the import path it was given as, if so)."""
    predicate = spec.get("predicate")
    if isinstance(predicate, str):
        return import_predicate(predicate, label), predicate
    if "predicate" in spec and not callable(predicate):
        raise _refusal(label, f"predicate must be a callable (response) -> bool or its import path, not {predicate!r}")
    return predicate, None


def import_predicate(ref: str, label: str) -> Predicate:
    """The callable at `ref`: `"package.module.function"` (or `"package.module:function"`), by `import_object`."""
    try:
        target = import_object(FIELD, ref)
    except ConfigError as exc:
        raise _refusal(label, f"predicate {ref!r}: {exc.problem}") from None
    if not callable(target):
        raise _refusal(label, f"predicate {ref!r} is not callable")
    return target


class Answer:
    """One response as the rules read it: its text and JSON body, each worked out once for all the rules."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    @cached_property
    def text(self) -> str:
        try:
            return self.response.text
        except UnicodeDecodeError:
            return ""

    @cached_property
    def body(self) -> Any:
        try:
            return self.response.json() if self.response.content else MISSING
        except (ValueError, UnicodeDecodeError):
            return MISSING


def _same(found: Any, wanted: Any) -> bool:
    """JSON equality: `true` is not `1`."""
    return found == wanted and isinstance(found, bool) == isinstance(wanted, bool)


@dataclass(frozen=True)
class ResponseRule:
    """One rule: its conditions, its action, and its label (`response_actions[1]`) for logs and errors."""

    action: str
    label: str = FIELD
    status: tuple[int, ...] = ()
    content: str | None = None
    path: str | None = None
    value: Any = MISSING
    predicate: Predicate | None = None
    predicate_ref: str | None = None  # the import path it was given as, for the triggerer

    @classmethod
    def of(cls, spec: Any, label: str) -> ResponseRule:
        """A rule from its dict form, checked; errors name `label`."""
        if isinstance(spec, ResponseRule):
            return spec
        if not isinstance(spec, Mapping):
            raise _refusal(label, f"a rule is a dict such as {{'status': 404, 'action': 'empty'}}, not {spec!r}")
        unknown = sorted(set(spec) - {*CONDITIONS, "action"})
        if unknown:
            raise _refusal(label, f"unknown key(s) {unknown}; a rule has {', '.join(CONDITIONS)} and action")
        action = spec.get("action")
        if action not in ACTIONS:
            raise _refusal(label, f"action {action!r} is not one of {', '.join(ACTIONS)}")
        if not any(key in spec for key in CONDITIONS):
            raise _refusal(label, f"the rule has no condition; give one or more of {', '.join(CONDITIONS)}")
        predicate, ref = _predicate(spec, label)
        return cls(
            action=action,
            label=label,
            status=_statuses(spec["status"], label) if "status" in spec else (),
            content=_content(spec, label),
            path=_path(spec, label),
            value=spec.get("value", MISSING),
            predicate=predicate,
            predicate_ref=ref,
        )

    def matches(self, answer: Answer) -> bool:
        """Whether every condition holds (the cheap ones first; the predicate last)."""
        if self.status and answer.response.status_code not in self.status:
            return False
        if self.content is not None and self.content not in answer.text:
            return False
        if self.path is not None and not _same(find_path(answer.body, self.path, missing=MISSING), self.value):
            return False
        return self.predicate is None or bool(self.predicate(answer.response))

    def describe(self) -> str:
        """`response_actions[1] (status 200, content 'rate limited': retry)`: what matched, never a body."""
        parts = []
        if self.status:
            parts.append(f"status {'/'.join(map(str, self.status))}")
        if self.content is not None:
            parts.append(f"content {self.content!r}")
        if self.path is not None:
            parts.append(f"{self.path} == {self.value!r}")
        if self.predicate is not None:
            parts.append(f"predicate {self.predicate_ref or getattr(self.predicate, '__qualname__', 'callable')}")
        return f"{self.label} ({', '.join(parts)}: {self.action})"

    def to_spec(self) -> dict[str, Any]:
        """The dict form, plain data; a predicate given as a function (not an import path) is refused."""
        spec: dict[str, Any] = {}
        if self.status:
            spec["status"] = self.status[0] if len(self.status) == 1 else list(self.status)
        if self.content is not None:
            spec["content"] = self.content
        if self.path is not None:
            spec["path"], spec["value"] = self.path, self.value
        if self.predicate is not None:
            if self.predicate_ref is None:
                raise _refusal(
                    self.label,
                    "deferrable=True sends the rules to the triggerer, so the predicate must be given as the "
                    "import path string of a module-level function ('package.module.function'), not a function",
                )
            spec["predicate"] = self.predicate_ref
        return {**spec, "action": self.action}


class ResponseRules:
    """The rules of a request, in order: the first that matches an answer decides what it means."""

    def __init__(self, rules: Sequence[ResponseRule], *, by_status: bool = False) -> None:
        self.rules = tuple(rules)
        self.by_status = by_status  # given in the mapping form: `to_spec()` gives that form back

    @classmethod
    def of(cls, spec: ResponseRules | ResponseActionsSpec) -> ResponseRules:
        """From the mapping form `{404: "empty"}` (statuses may be strings: JSON keys), a list of rule dicts, or
        rules already built; errors name `response_actions` and the rule at fault."""
        if isinstance(spec, ResponseRules):
            return spec
        if spec is None:
            return cls(())
        if isinstance(spec, Mapping):
            return cls([cls._by_status(status, action) for status, action in spec.items()], by_status=True)
        if isinstance(spec, str | bytes) or not isinstance(spec, Sequence):
            raise ConfigError(
                FIELD, f"give a list of rules or a mapping of statuses to actions, not {type(spec).__name__}"
            )
        return cls([ResponseRule.of(rule, f"{FIELD}[{index}]") for index, rule in enumerate(spec)])

    @staticmethod
    def _by_status(status: Any, action: Any) -> ResponseRule:
        label = f"{FIELD}[{status!r}]"
        if isinstance(status, bool) or not str(status).isdigit() or not 100 <= int(status) <= 599:
            raise _refusal(label, f"{status!r} is not an HTTP status (100-599)")
        if action not in ACTIONS:
            raise _refusal(label, f"action {action!r} is not one of {', '.join(ACTIONS)}")
        return ResponseRule(action=action, label=f"{FIELD}[{int(status)}]", status=(int(status),))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __iter__(self) -> Iterator[ResponseRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"ResponseRules({[rule.describe() for rule in self.rules]})"

    @property
    def refreshes(self) -> bool:
        """Whether a rule renews the token (the request then needs a token manager)."""
        return any(rule.action == "refresh" for rule in self.rules)

    def match(self, response: httpx.Response) -> ResponseRule | None:
        """The first rule `response` matches (remembered on it, under the `RULE` extension), or None."""
        answer = Answer(response)
        for rule in self.rules:
            if rule.matches(answer):
                response.extensions[RULE] = rule
                return rule
        return None

    def to_spec(self) -> dict[str, str] | list[dict[str, Any]] | None:
        """Plain data for the triggerer: the mapping form (string keys) when given so, else the list of dicts."""
        if not self.rules:
            return None
        if self.by_status:
            return {str(rule.status[0]): rule.action for rule in self.rules}
        return [rule.to_spec() for rule in self.rules]


# -- The refresh action ---------------------------------------------------------------------------------------------


def carries(request: httpx.Request, secret: str) -> bool:
    """Whether `request` carried `secret` (in a header, a cookie or a query parameter)."""
    secret = secret.strip()
    return bool(secret) and (
        any(secret in value for value in request.headers.values())
        or any(secret in value for value in request.url.params.values())
    )


class TokenRefresh:
    """The `refresh` action: renew the token an answer was given for, the way `TokenAuth` does after a 401 (a
    forced refresh with that token as the stale one). An answer to a token already replaced renews nothing, so
    the requests in flight that met the same token share one renewal."""

    def __init__(self, manager: TokenManager) -> None:
        self.manager = manager

    def __call__(self, response: httpx.Response) -> None:
        token = self.manager.get_token()
        if carries(response.request, token.access_token):
            self.manager.get_token(force_refresh=True, stale=token)

    async def arefresh(self, response: httpx.Response) -> None:
        token = await self.manager.aget_token()
        if carries(response.request, token.access_token):
            await self.manager.aget_token(force_refresh=True, stale=token)


# -- The errors of the send actions ---------------------------------------------------------------------------------


class ResponseRuleError(ApiResponseError):
    """An answer matched a `response_actions` rule that ends the request: the message names the request, the
    status, the rule and a secret-free excerpt (`excerpt`)."""

    def __init__(
        self, request_label: str, rule: ResponseRule, response: httpx.Response, excerpt: str, why: str = ""
    ) -> None:
        self.rule, self.status_code, self.excerpt = rule, response.status_code, excerpt
        status = response.status_code
        super().__init__(f"{request_label} answered {status}, matching {rule.describe()}{why}: {excerpt}")


class RuleFailError(ResponseRuleError):
    """A `fail` rule matched."""


class RuleRetryError(ResponseRuleError):
    """A `retry` rule still matched after the retry policy's last attempt (or a `Retry-After` too long to wait)."""


class RuleRefreshError(ResponseRuleError):
    """A `refresh` rule matched again on the answer to the request sent with a renewed token."""
