"""A saved Terraform plan as ``terraform show -json`` describes it, typed: what would change, by address and action.

Terraform's JSON output format (``format_version`` 1.x): ``resource_changes[]`` with ``address``, ``type``,
``change.actions`` (``["create"]``, ``["update"]``, ``["delete"]``, ``["delete", "create"]`` or
``["create", "delete"]`` for a replacement, ``["no-op"]``, ``["read"]``), ``change.before`` / ``change.after`` and
``change.after_unknown``; ``output_changes`` likewise per output; ``planned_values.outputs`` the outputs' values
as far as they are known at plan time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UNCHANGED = frozenset({"no-op", "read"})
"""Actions that change nothing (``read``: a data source read during apply)."""


def _action(actions: tuple[str, ...]) -> str:
    if len(actions) == 2 and set(actions) == {"create", "delete"}:
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


@dataclass(frozen=True)
class ResourceChange:
    address: str
    """``aws_lambda_function.this["api"]``, ``module.square.aws_iam_role.this``."""
    type: str
    name: str
    actions: tuple[str, ...]
    before: Any = None
    """The resource's attributes now (None when it does not exist yet)."""
    after: Any = None
    """Its attributes after the change, as far as known (None when it is deleted)."""
    after_unknown: Any = None
    """Which ``after`` attributes only apply will know (``true`` per attribute)."""
    replace_paths: tuple[Any, ...] = ()
    """The attributes that force a replacement."""

    @property
    def action(self) -> str:
        """One word: create, update, delete, replace, no-op or read."""
        return _action(self.actions)


@dataclass(frozen=True)
class OutputChange:
    name: str
    actions: tuple[str, ...]
    before: Any = None
    after: Any = None
    after_unknown: bool = False

    @property
    def action(self) -> str:
        return _action(self.actions)


@dataclass(frozen=True)
class Plan:
    """What ``terraform plan`` proposed: ``plan.resource_changes["aws_s3_bucket.uploads"].action == "create"``."""

    resource_changes: dict[str, ResourceChange] = field(default_factory=dict)
    output_changes: dict[str, OutputChange] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    """Root outputs whose values the plan knows (``planned_values``); unknown ones are absent."""
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """The whole ``terraform show -json`` document, for anything not typed here."""

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Plan:
        resources = {}
        for item in document.get("resource_changes") or []:
            change = item.get("change") or {}
            resources[item["address"]] = ResourceChange(
                address=item["address"],
                type=str(item.get("type", "")),
                name=str(item.get("name", "")),
                actions=tuple(change.get("actions") or ()),
                before=change.get("before"),
                after=change.get("after"),
                after_unknown=change.get("after_unknown"),
                replace_paths=tuple(change.get("replace_paths") or ()),
            )
        outputs = {}
        for name, change in (document.get("output_changes") or {}).items():
            outputs[name] = OutputChange(
                name=name,
                actions=tuple(change.get("actions") or ()),
                before=change.get("before"),
                after=change.get("after"),
                after_unknown=bool(change.get("after_unknown")),
            )
        planned = (document.get("planned_values") or {}).get("outputs") or {}
        values = {name: entry.get("value") for name, entry in planned.items() if "value" in entry}
        return cls(resource_changes=resources, output_changes=outputs, outputs=values, document=document)

    @property
    def changes(self) -> dict[str, ResourceChange]:
        """The resource changes that change something (no ``no-op``, no ``read``)."""
        return {address: change for address, change in self.resource_changes.items() if change.action not in UNCHANGED}

    @property
    def has_changes(self) -> bool:
        """True when applying would change a resource or an output (what ``plan -detailed-exitcode`` 2 means)."""
        return bool(self.changes) or any(change.action not in UNCHANGED for change in self.output_changes.values())

    def addresses(self, action: str) -> list[str]:
        """The addresses whose change is ``action`` (create, update, delete, replace, no-op, read), in plan order."""
        return [address for address, change in self.resource_changes.items() if change.action == action]

    def summary(self) -> str:
        """``create 3, update 1`` (what a failed assertion should show), or ``no changes``."""
        counts: dict[str, int] = {}
        for change in self.changes.values():
            counts[change.action] = counts.get(change.action, 0) + 1
        outputs = [name for name, change in self.output_changes.items() if change.action not in UNCHANGED]
        parts = [f"{action} {count}" for action, count in counts.items()]
        if outputs:
            parts.append(f"outputs {', '.join(outputs)}")
        return ", ".join(parts) or "no changes"

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"  {change.action:<8} {address}" for address, change in self.changes.items()]
        return "\n".join(lines)
