"""After a destroy: which of the resources the state listed before it does LocalStack still hold?

Terraform's "Destroy complete!" is the aws provider's word, and the provider can be wrong: one that cannot reach a
service (an S3 bucket host that does not resolve) has taken the failure for "already deleted" and dropped the
resource from the state. So every instance of every hashicorp/aws resource in the state taken *before* the destroy
is asked about again: directly with boto3 where :data:`~.probes.PROBES` knows the type, otherwise through the
provider's own read (a ``-refresh-only`` of that old state: whatever the read still finds stays in it). Anything
found, or that could not be asked, is a :class:`Leftover`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_url_harness.aws import localstack_client
from lambda_url_harness.inventory.probes import PROBES
from lambda_url_harness.terraform.state import StateInstance, StateResource, TerraformState

log = logging.getLogger(__name__)

Refresh = Callable[[list[str]], TerraformState]
"""Refreshes these addresses of the pre-destroy state with the provider's reads and returns what is left in it."""


@dataclass(frozen=True)
class Leftover:
    address: str
    """The instance's address in the pre-destroy state, e.g. ``aws_s3_bucket.uploads``."""
    what: str
    """What it is in LocalStack, e.g. ``bucket demo-uploads``."""
    error: str = ""
    """Set when the question itself failed: the resource may or may not be there."""

    def __str__(self) -> str:
        if self.error:
            return f"{self.address} ({self.what}): could not check: {self.error}"
        return f"{self.address} ({self.what})"


def find_leftovers(before: TerraformState, endpoint: str, region: str, refresh: Refresh | None) -> list[Leftover]:
    """Every resource of ``before`` (the state just before the destroy) that still exists at ``endpoint``.

    ``refresh`` checks the types no probe knows; None leaves them unchecked (logged)."""
    clients: dict[str, Any] = {}
    found: list[Leftover] = []
    unprobed: list[tuple[StateResource, StateInstance]] = []
    for resource, instance in before.aws_instances():
        probe = PROBES.get(resource.type)
        if probe is None:
            unprobed.append((resource, instance))
            continue
        what = probe.describe(instance.attributes)
        if probe.service not in clients:
            clients[probe.service] = localstack_client(probe.service, endpoint, region)
        try:
            if probe.exists(clients[probe.service], instance.attributes):
                found.append(Leftover(instance.address, what))
        except (ClientError, BotoCoreError, KeyError) as error:
            found.append(Leftover(instance.address, what, f"{type(error).__name__}: {error}"))
    if unprobed:
        found += _refreshed_leftovers(unprobed, refresh)
    return found


def _refreshed_leftovers(
    unprobed: Iterable[tuple[StateResource, StateInstance]], refresh: Refresh | None
) -> list[Leftover]:
    pending = {instance.address: resource.type for resource, instance in unprobed}
    if refresh is None:
        log.warning("not checked after destroy (no probe, no refresh): %s", ", ".join(pending))
        return []
    try:
        remaining = {instance.address for _, instance in refresh(list(pending)).aws_instances()}
    except Exception as error:  # the check must say it could not check, not hide the resources
        return [Leftover(address, kind, f"refresh failed: {error}") for address, kind in pending.items()]
    return [
        Leftover(address, f"{kind} (still read by the provider)")
        for address, kind in pending.items()
        if address in remaining
    ]
