"""A function's resource-based policy evaluated for one request, as IAM evaluates it (AWS docs "Policy evaluation
logic", "IAM JSON policy elements: Condition operators").

An explicit ``Deny`` wins over any ``Allow``; without a matching ``Allow`` the answer is an implicit deny. A
statement matches when its action, principal, resource and every condition match. Actions match case-insensitively
with ``*``/``?`` wildcards, resources case-sensitively; a condition on a key the request does not have is false,
except for the negated operators, ``...IfExists`` and ``Null``. ``NotPrincipal`` statements are not evaluated (they
never match). Standard library only.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Principal:
    """Who asks: ``account_id`` None for an anonymous (unsigned) request; ``arns`` it answers to."""

    account_id: str | None = None
    arns: tuple[str, ...] = ()


ANONYMOUS = Principal()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character; nothing else is special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _matches_action(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(_wildcard(str(pattern), action, ignore_case=True) for pattern in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(
            _wildcard(str(pattern), action, ignore_case=True) for pattern in _as_list(statement["NotAction"])
        )
    return False


def _matches_resource(statement: Mapping[str, Any], resource: str) -> bool:
    if "Resource" in statement:
        return any(_wildcard(str(pattern), resource) for pattern in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(_wildcard(str(pattern), resource) for pattern in _as_list(statement["NotResource"]))
    return False


def _matches_principal(statement: Mapping[str, Any], principal: Principal) -> bool:
    named = statement.get("Principal")
    if named is None:
        return False  # NotPrincipal or no principal: not evaluated
    if named == "*":
        return True
    if not isinstance(named, Mapping):
        return False
    for entry in _as_list(named.get("AWS", [])):
        if entry == "*":
            return True
        if principal.account_id is not None and (entry == principal.account_id or entry in principal.arns):
            return True
    return False  # Service, Federated and CanonicalUser principals never sign a Function URL request


def _string_equals(ignore_case: bool) -> Callable[[str, str], bool]:
    return (lambda a, b: a.lower() == b.lower()) if ignore_case else (lambda a, b: a == b)


_COMPARISONS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": _string_equals(False),
    "StringEqualsIgnoreCase": _string_equals(True),
    "StringLike": lambda value, pattern: _wildcard(pattern, value),
    "ArnEquals": _string_equals(False),
    "ArnLike": lambda value, pattern: _wildcard(pattern, value),
    "Bool": lambda value, expected: value.lower() == expected.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, key: str, expected: Iterable[Any], context: Mapping[str, str]) -> bool:
    present = key.lower() in context
    value = context.get(key.lower(), "")
    expected = [str(item).lower() if isinstance(item, bool) else str(item) for item in expected]
    if operator == "Null":
        return all((item.lower() == "true") != present for item in expected)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base in _NEGATED:
        compare = _COMPARISONS[_NEGATED[base]]
        return not present or not any(compare(value, item) for item in expected)
    if base not in _COMPARISONS:
        log.warning("condition operator %s is not evaluated; the statement does not match", operator)
        return False
    if not present:
        return if_exists
    return any(_COMPARISONS[base](value, item) for item in expected)


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    conditions = statement.get("Condition") or {}
    return all(
        _condition_holds(operator, key, _as_list(expected), context)
        for operator, keys in conditions.items()
        for key, expected in keys.items()
    )


def evaluate(
    statements: Iterable[Mapping[str, Any]],
    action: str,
    principal: Principal,
    resource: str,
    context: Mapping[str, str],
) -> Decision:
    """The policy's decision for ``principal`` doing ``action`` on ``resource``; ``context`` keys in any case."""
    keys = {key.lower(): value for key, value in context.items()}
    allowed = False
    for statement in statements:
        if not (
            _matches_action(statement, action)
            and _matches_principal(statement, principal)
            and _matches_resource(statement, resource)
            and _conditions_hold(statement, keys)
        ):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.DENY
        allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
