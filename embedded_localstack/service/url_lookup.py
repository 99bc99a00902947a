"""The Function URL a request is addressed to, found the way LocalStack 4.9.2's URL router finds it.

``localstack/services/lambda_/urlrouter.py::handle_lambda_url_invocation`` scans every account's store of the
request's region for a URL config whose id equals the host's first label, ignoring case (URL ids come from tags,
which are case-sensitive, but host names are not). The embedded mode's URL patches (access, CORS) need the same
config before LocalStack's handler runs; this is that lookup, once. Imported only inside .venv-localstack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FunctionUrl:
    """A URL config with the function it belongs to and the qualifier it is keyed by ($LATEST or an alias)."""

    function: Any
    """LocalStack's ``lambda_models.Function``."""
    qualifier: str
    config: Any
    """LocalStack's ``lambda_models.FunctionUrlConfig`` (``auth_type``, ``cors``, ``function_arn``, ...)."""

    @property
    def statements(self) -> list[dict[str, Any]]:
        """The resource policy that applies to this URL: the one of its qualifier ($LATEST or the alias)."""
        policy = self.function.permissions.get(self.qualifier)
        return list(policy.policy.Statement) if policy is not None else []

    @property
    def account_id(self) -> str:
        return str(self.config.function_arn.split(":")[4])


def find_function_url(api_id: str, region: str) -> FunctionUrl | None:
    """The URL whose id is ``api_id`` (any case) in ``region``, or None (LocalStack then answers 403 itself)."""
    from localstack.services.lambda_.invocation.models import lambda_stores

    found = None
    for account_id in list(lambda_stores.keys()):
        for function in list(lambda_stores[account_id][region].functions.values()):
            for qualifier, config in list(function.function_url_configs.items()):
                if config.url_id.lower() == api_id.lower():
                    found = FunctionUrl(function, qualifier, config)
    return found
