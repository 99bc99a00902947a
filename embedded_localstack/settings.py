"""The settings that cross from the host-side control into the LocalStack process, each named once.

The launcher (:mod:`embedded_localstack.control.lifecycle`) sets them in LocalStack's environment; the code inside
LocalStack (:mod:`embedded_localstack.service`) reads them. Standard library only: both venvs import it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

TUNING_VARIABLE = "EMBEDDED_LOCALSTACK_TUNING"
"""``off``: LocalStack runs with its stock settings and none of the tuning patches (``start --stock``)."""

URL_CREDENTIALS_VARIABLE = "EMBEDDED_LAMBDA_URL_CREDENTIALS"
"""More access key / secret pairs that SigV4-signed Function URL requests (AuthType AWS_IAM) may be signed with:
``KEY:SECRET[,KEY:SECRET...]``. Without it, LocalStack's conventions decide (docs/embedded-mode.md)."""

STRICT_URL_POLICY_VARIABLE = "EMBEDDED_LAMBDA_URL_STRICT_POLICY"
"""``on``: a Function URL also needs AWS's second statement since October 2025 (``lambda:InvokeFunction`` with
``lambda:InvokedViaFunctionUrl``); default ``off`` (accounts created before then, and LocalStack in Docker)."""

_ACCESS_KEY = re.compile(r"^[A-Za-z0-9]{1,128}$")
_SWITCH = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False, "": False}


def _environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def tuning_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False only when the launcher started LocalStack with its stock settings (``EMBEDDED_LOCALSTACK_TUNING=off``)."""
    return _environment(environ).get(TUNING_VARIABLE, "on").strip().lower() != "off"


def format_url_credentials(pairs: Mapping[str, str]) -> str:
    """``{"KEY": "SECRET"}`` -> the value of :data:`URL_CREDENTIALS_VARIABLE`; ValueError for a pair it cannot carry."""
    for key, secret in pairs.items():
        if not _ACCESS_KEY.match(key):
            raise ValueError(f"access key {key!r} must be 1-128 letters and digits")
        if not secret or any(char in secret for char in ",: \t\n"):
            raise ValueError(f"the secret of access key {key!r} must be non-empty, without commas, colons or spaces")
    return ",".join(f"{key}:{secret}" for key, secret in pairs.items())


def url_credentials(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The registered access key -> secret pairs; ValueError naming the malformed entry."""
    text = _environment(environ).get(URL_CREDENTIALS_VARIABLE, "").strip()
    pairs: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key, separator, secret = entry.partition(":")
        if not separator:
            raise ValueError(f"{URL_CREDENTIALS_VARIABLE}: entry {entry!r} is not KEY:SECRET")
        pairs[key] = secret
    format_url_credentials(pairs)  # the same rules as on the way in
    return pairs


def strict_url_policy(environ: Mapping[str, str] | None = None) -> bool:
    """True when :data:`STRICT_URL_POLICY_VARIABLE` is on; ValueError for a value that is neither on nor off."""
    value = _environment(environ).get(STRICT_URL_POLICY_VARIABLE, "").strip().lower()
    if value not in _SWITCH:
        raise ValueError(f"{STRICT_URL_POLICY_VARIABLE} must be on or off, got {value!r}")
    return _SWITCH[value]


def function_url_environment(
    pairs: Mapping[str, str], strict: bool | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Both Function URL settings for LocalStack's environment: ``environ``'s (validated), ``pairs`` added, ``strict``
    (None: as ``environ`` says) written out; ValueError for a malformed value."""
    merged = {**url_credentials(environ), **pairs}
    strict = strict_url_policy(environ) if strict is None else strict
    return {
        URL_CREDENTIALS_VARIABLE: format_url_credentials(merged),
        STRICT_URL_POLICY_VARIABLE: "on" if strict else "off",
    }


# -- resources of the execution environments (read by the sandbox, service/sandbox/cgroups.py) -------------------
CPU_VARIABLE = "EMBEDDED_LAMBDA_CPU"
"""CPU of one execution environment: ``core`` (default: at most one core, whatever its MemorySize) or ``aws``
(AWS's proportion: MemorySize / 1,769 MB vCPUs, e.g. 128 MB -> 7 % of a core, 3,538 MB -> two cores)."""
CPU_MODES = ("core", "aws")
MAX_PROCESSES_VARIABLE = "EMBEDDED_LAMBDA_MAX_PROCESSES"
"""Processes and threads of all execution environments of one LocalStack together (unset: a quarter of the
kernel's ``pid_max``, at most 8,192). Each environment has AWS's 1,024 besides."""
MAX_MEMORY_VARIABLE = "EMBEDDED_LAMBDA_MAX_MEMORY_MB"
"""Memory (MB) of all execution environments of one LocalStack together (unset: three quarters of the memory the
host, or LocalStack's own cgroup, has)."""
MIN_MAX_PROCESSES = 64
"""The smallest cap over all environments: one environment (bwrap, pasta, the runtime and its threads) must start."""
MIN_MAX_MEMORY_MB = 128
"""The smallest cap over all environments: AWS's smallest MemorySize."""


@dataclass(frozen=True)
class ResourceSettings:
    """How much of the host the execution environments of one LocalStack may use; ValueError for a bad value."""

    cpu: str = "core"
    max_processes: int | None = None
    """None: the default of :data:`MAX_PROCESSES_VARIABLE`."""
    max_memory_mb: int | None = None
    """None: the default of :data:`MAX_MEMORY_VARIABLE`."""

    def __post_init__(self) -> None:
        if self.cpu not in CPU_MODES:
            raise ValueError(f"{CPU_VARIABLE} must be one of {', '.join(CPU_MODES)}, got {self.cpu!r}")
        for name, value, least in (
            (MAX_PROCESSES_VARIABLE, self.max_processes, MIN_MAX_PROCESSES),
            (MAX_MEMORY_VARIABLE, self.max_memory_mb, MIN_MAX_MEMORY_MB),
        ):
            if value is not None and (type(value) is not int or value < least):  # a bool is no number here
                raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ResourceSettings:
        source = _environment(environ)
        cpu = source.get(CPU_VARIABLE, "").strip().lower() or "core"
        return cls(cpu, _whole_number(source, MAX_PROCESSES_VARIABLE), _whole_number(source, MAX_MEMORY_VARIABLE))

    def environment(self) -> dict[str, str]:
        """The variables that carry these settings into LocalStack (an empty value: the default)."""
        return {
            CPU_VARIABLE: self.cpu,
            MAX_PROCESSES_VARIABLE: "" if self.max_processes is None else str(self.max_processes),
            MAX_MEMORY_VARIABLE: "" if self.max_memory_mb is None else str(self.max_memory_mb),
        }


def _whole_number(source: Mapping[str, str], name: str) -> int | None:
    text = source.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{name} must be a whole number, got {text!r}")
    return int(text)


def resource_environment(settings: ResourceSettings | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The resource settings for LocalStack's environment: ``settings``, or (None) ``environ``'s, validated."""
    return (settings or ResourceSettings.from_environment(environ)).environment()
