"""The settings that cross from the host-side control into the LocalStack process, each named once.

The launcher (:mod:`embedded_localstack.control.lifecycle`) sets them in LocalStack's environment; the code inside
LocalStack (:mod:`embedded_localstack.service`) reads them. Standard library only: both venvs import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TUNING_VARIABLE = "EMBEDDED_LOCALSTACK_TUNING"
"""``off``: LocalStack runs with its stock settings and none of the tuning patches (``start --stock``)."""


def tuning_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False only when the launcher started LocalStack with its stock settings (``EMBEDDED_LOCALSTACK_TUNING=off``)."""
    return (os.environ if environ is None else environ).get(TUNING_VARIABLE, "on").strip().lower() != "off"
