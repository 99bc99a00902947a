"""The one reader of a working directory's ``terraform.tfstate`` (the local backend), typed.

Read from the file, without Terraform or an endpoint: whether a destroy has work to do, which resources it still
lists (for messages, and with their recorded attributes for the check after a destroy), and the root outputs (what
``terraform output`` would print, without another tflocal start-up). A file that a killed Terraform left empty or
half written is unreadable: it may still list resources, so a destroy is left to Terraform to decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "terraform.tfstate"
STATE_FORMAT = 4
"""Terraform's state format since 0.12; outputs are read from it only in this format."""


@dataclass(frozen=True)
class StateInstance:
    """One instance of a resource (``count`` and ``for_each`` make several): its address and recorded attributes."""

    address: str
    """``aws_lambda_function.this["api"]``: the resource's address plus the instance key, if any."""
    attributes: dict[str, Any]


@dataclass(frozen=True)
class StateResource:
    mode: str
    """``managed`` (a resource Terraform created) or ``data``."""
    type: str
    name: str
    module: str = ""
    provider: str = ""
    """``provider["registry.terraform.io/hashicorp/aws"]`` (with an alias if any)."""
    instances: tuple[StateInstance, ...] = ()

    @property
    def address(self) -> str:
        return ".".join(part for part in (self.module, self.type, self.name) if part)

    @property
    def is_aws(self) -> bool:
        """A managed resource of the hashicorp/aws provider: one that lives in LocalStack (or AWS)."""
        return self.mode == "managed" and '/hashicorp/aws"]' in self.provider


def _instance_address(address: str, index_key: Any) -> str:
    if index_key is None:
        return address
    return f"{address}[{json.dumps(index_key)}]"


def _resource(item: dict[str, Any]) -> StateResource:
    address = ".".join(str(part) for part in (item.get("module"), item.get("type"), item.get("name")) if part)
    instances = tuple(
        StateInstance(_instance_address(address, entry.get("index_key")), dict(entry.get("attributes") or {}))
        for entry in item.get("instances") or []
        if isinstance(entry, dict)
    )
    return StateResource(
        mode=str(item.get("mode", "")),
        type=str(item.get("type", "")),
        name=str(item.get("name", "")),
        module=str(item.get("module") or ""),
        provider=str(item.get("provider", "")),
        instances=instances,
    )


@dataclass(frozen=True)
class TerraformState:
    """What a state file (``terraform.tfstate`` in a working directory, or a copy of one) says."""

    present: bool
    """The file exists."""
    readable: bool
    """It parsed as a JSON object."""
    resources: tuple[StateResource, ...] = ()
    outputs: dict[str, Any] | None = None
    """Root output name -> value; None unless the file is readable and in :data:`STATE_FORMAT`."""

    @classmethod
    def read(cls, working_dir: Path) -> TerraformState:
        """The working directory's local state."""
        return cls.read_file(working_dir / STATE_FILE)

    @classmethod
    def read_file(cls, path: Path) -> TerraformState:
        if not path.is_file():
            return cls(present=False, readable=False)
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(present=True, readable=False)
        if not isinstance(document, dict):
            return cls(present=True, readable=False)
        resources = tuple(_resource(item) for item in document.get("resources") or [] if isinstance(item, dict))
        entries = document.get("outputs")
        outputs = (
            {name: entry.get("value") for name, entry in entries.items() if isinstance(entry, dict)}
            if document.get("version") == STATE_FORMAT and isinstance(entries, dict)
            else None
        )
        return cls(present=True, readable=True, resources=resources, outputs=outputs)

    @property
    def has_resources(self) -> bool:
        """True when a destroy has work to do: resources are listed, or the file exists but cannot be read."""
        return bool(self.resources) or (self.present and not self.readable)

    def addresses(self) -> list[str]:
        """The managed resources' addresses (``module.x.aws_iam_role.this``)."""
        return [resource.address for resource in self.resources if resource.mode == "managed"]

    def aws_instances(self) -> list[tuple[StateResource, StateInstance]]:
        """Every instance of every hashicorp/aws managed resource, in state order: what lives in LocalStack."""
        return [
            (resource, instance) for resource in self.resources if resource.is_aws for instance in resource.instances
        ]
