"""The settings that cross from the host-side control into the LocalStack process, each named once.

The launcher (:mod:`embedded_localstack.control.lifecycle`) sets them in LocalStack's environment; the code inside
LocalStack (:mod:`embedded_localstack.service`) reads them. Standard library only: both venvs import it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

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
