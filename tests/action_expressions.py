"""A small evaluator of GitHub Actions `${{ }}` expressions, for the step harness (a test helper).

It knows what action.yml and the workflows here use: contexts (`inputs.x`, `steps.id.outputs.x`,
`steps.id.outcome`, `github.x`, `env.X`, `runner.temp`), string/number/boolean literals, `==` and
`!=` (strings compared case-insensitively, as GitHub does), `!`, `&&`, `||`, parentheses, the
status functions `success()`, `always()`, `failure()`, `cancelled()`, and `toJSON(x)`/`fromJSON(x)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.-]*(?:\(\))?))"
)
_STATUS = ("success()", "always()", "failure()", "cancelled()")
_FUNCTIONS = {"toJSON": lambda value: json.dumps(value, indent=2), "fromJSON": json.loads}
_EMBEDDED = re.compile(r"\$\{\{(.*?)\}\}", re.S)


@dataclass
class Scope:
    """What an expression can see."""

    contexts: Mapping[str, Any]
    failed: bool = False  # an earlier step failed


def _tokens(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text.rstrip()):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ValueError(f"cannot parse expression {text!r} at {text[at:]!r}")
        tokens.append(match[0].strip())
        at = match.end()
    return tokens


def _lookup(path: str, contexts: Mapping[str, Any]) -> Any:
    value: Any = contexts
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, Mapping) else ""
    return value


def _truthy(value: Any) -> bool:
    return value not in ("", 0, False, None)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    return bool(left == right)


class _Parser:
    def __init__(self, tokens: list[str], scope: Scope) -> None:
        self.tokens, self.scope, self.at = tokens, scope, 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        self.at += 1
        return self.tokens[self.at - 1]

    def expression(self) -> Any:
        value = self.conjunction()
        while self.peek() == "||":
            self.take()
            right = self.conjunction()
            value = value if _truthy(value) else right
        return value

    def conjunction(self) -> Any:
        value = self.comparison()
        while self.peek() == "&&":
            self.take()
            right = self.comparison()
            value = right if _truthy(value) else value
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!="):
            op = self.take()
            right = self.unary()
            value = _equal(value, right) if op == "==" else not _equal(value, right)
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not _truthy(self.unary())
        return self.atom()

    def call(self, function: str) -> Any:
        self.take()
        argument = self.expression()
        self.take()
        return _FUNCTIONS[function](argument)

    def atom(self) -> Any:
        token = self.take()
        if token == "(":
            value = self.expression()
            self.take()
            return value
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token[0].isdigit():
            return float(token) if "." in token else int(token)
        if token in ("true", "false"):
            return token == "true"
        return self.name(token)

    def name(self, token: str) -> Any:
        """A function call, a status function, or a context's value."""
        if token in _FUNCTIONS and self.peek() == "(":
            return self.call(token)
        if token in _STATUS:
            return {
                "success()": not self.scope.failed,
                "always()": True,
                "failure()": self.scope.failed,
                "cancelled()": False,
            }[token]
        return _lookup(token, self.scope.contexts)


def evaluate(expression: str, scope: Scope) -> Any:
    """The value of one expression (without `${{ }}`)."""
    parser = _Parser(_tokens(expression), scope)
    value = parser.expression()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()!r} in {expression!r}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def substitute(text: str, scope: Scope) -> str:
    """`text` with every `${{ expr }}` replaced by its value, as the runner does before a step runs."""
    return _EMBEDDED.sub(lambda match: _text(evaluate(match[1], scope)), text)


def condition(text: str | bool | None, scope: Scope) -> bool:
    """A step's `if:`: without a status function it means `success() && (...)`."""
    if text is None:
        return not scope.failed
    if isinstance(text, bool):
        return text and not scope.failed
    inner = text.strip()
    if inner.startswith("${{") and inner.endswith("}}"):
        inner = inner[3:-2]
    value = _truthy(evaluate(inner, scope))
    if not any(status in inner for status in _STATUS):
        value = value and not scope.failed
    return value
