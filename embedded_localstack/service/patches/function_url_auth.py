"""Function URLs check AuthType and the function's resource policy before the function runs, as AWS does.

LocalStack 4.9.2's ``FunctionUrlRouter.handle_lambda_url_invocation`` invokes the function for any request. AWS
(docs "Control access to Lambda function URLs"):

* ``AuthType: AWS_IAM``: the request must carry a valid SigV4 signature for service ``lambda`` in the URL's region
  (:mod:`embedded_localstack.service.sigv4`; who signed: :mod:`embedded_localstack.service.url_credentials`).
  Unsigned: 403 Forbidden; malformed, expired or not matching: 403 with AWS's SigV4 error. A caller of the
  function's own account needs no resource policy (its identity policy would decide, and LocalStack enforces no
  IAM); a caller of another account needs a statement allowing it ``lambda:InvokeFunctionUrl``.
* ``AuthType: NONE``: the function's resource policy must allow ``lambda:InvokeFunctionUrl`` to everyone
  (principal ``*``); AWS writes it with the condition ``lambda:FunctionUrlAuthType = NONE``, and a statement whose
  condition says ``AWS_IAM``, or that names another principal, does not allow it. Otherwise 403 Forbidden.
* Either way an explicit ``Deny`` wins, and the policy is the one of the URL's qualifier ($LATEST or the alias).
* Strict (``EMBEDDED_LAMBDA_URL_STRICT_POLICY=on``): also ``lambda:InvokeFunction`` with
  ``lambda:InvokedViaFunctionUrl``, AWS's rule for URLs created since October 2025.

Unknown URL ids keep LocalStack's answer (403 ``{"Message":null}``, as AWS). Imported only inside .venv-localstack.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from embedded_localstack.service.patches.function_url_payload_limit import refuse_declared_oversize
from embedded_localstack.service.resource_policy import ANONYMOUS, Decision, Principal, evaluate
from embedded_localstack.service.sigv4 import ReceivedRequest, SignatureError, check, read_signature
from embedded_localstack.service.url_credentials import CredentialStore
from embedded_localstack.service.url_errors import forbidden, signature_refused
from embedded_localstack.service.url_lookup import FunctionUrl, find_function_url
from embedded_localstack.settings import strict_url_policy, url_credentials

log = logging.getLogger(__name__)

INVOKE_URL = "lambda:InvokeFunctionUrl"
INVOKE = "lambda:InvokeFunction"


def received_request(request: Any) -> ReceivedRequest:
    """What the client sent: raw path and query, headers, and the body (read once and cached for the event)."""
    from rolo.request import get_raw_path

    return ReceivedRequest(
        method=request.method,
        raw_path=get_raw_path(request) or "/",
        raw_query=request.query_string.decode("utf-8", errors="replace"),
        headers=list(request.headers.items()),
        body=request.get_data(cache=True),
    )


class AccessCheck:
    """Decides whether a request may invoke the function behind a Function URL; None means yes."""

    def __init__(self, credentials: CredentialStore, strict: bool) -> None:
        self.credentials = credentials
        self.strict = strict

    def refusal(self, url: FunctionUrl, request: Any, region: str) -> Any | None:
        auth_type = str(url.config.auth_type)
        context = {"lambda:FunctionUrlAuthType": auth_type, "aws:SourceIp": request.remote_addr or ""}
        if auth_type == "AWS_IAM":
            refuse_declared_oversize(request)  # before the body is read to be hashed
            try:
                principal = self._signer(request, region)
            except SignatureError as error:
                log.info("Function URL request refused, %s: %s", error.error_type, error.message)
                return signature_refused(error.error_type, error.message)
            if principal is None:
                log.info("unsigned request to the AWS_IAM Function URL of %s refused", url.function.function_name)
                return forbidden()
            context |= {"aws:PrincipalAccount": principal.account_id or "", "aws:PrincipalArn": principal.arns[0]}
        else:
            principal = ANONYMOUS
        actions = (INVOKE_URL, INVOKE) if self.strict else (INVOKE_URL,)
        for action in actions:
            if not self._allowed(url, principal, action, context):
                log.info("%s not allowed for %s by the policy of %s", action, principal, url.config.function_arn)
                return forbidden()
        return None

    def _signer(self, request: Any, region: str) -> Principal | None:
        received = received_request(request)
        signature = read_signature(received)
        if signature is None:
            return None
        now = datetime.now(UTC)
        identity = self.credentials.identity(signature.access_key, signature.session_token, now)
        check(received, signature, identity.secret, region, now)
        return Principal(identity.account_id, identity.arns)

    @staticmethod
    def _allowed(url: FunctionUrl, principal: Principal, action: str, context: dict[str, str]) -> bool:
        if action == INVOKE:
            context = context | {"lambda:InvokedViaFunctionUrl": "true"}
        decision = evaluate(url.statements, action, principal, url.config.function_arn, context)
        if principal.account_id == url.account_id:
            return decision is not Decision.DENY  # same account: the identity policy decides; IAM is not enforced
        return decision is Decision.ALLOW


def check_function_url_access() -> None:
    """Function URL requests are checked before LocalStack invokes (idempotent; applied before LocalStack starts).

    The router registers its bound method when the Lambda service starts, so replacing it on the class is enough.
    """
    from localstack.services.lambda_.urlrouter import FunctionUrlRouter

    handle = FunctionUrlRouter.handle_lambda_url_invocation
    if getattr(handle, "access_checked", False):
        return
    access = AccessCheck(CredentialStore(url_credentials()), strict_url_policy())

    def handle_if_allowed(self: Any, request: Any, api_id: str, region: str, **url_params: str) -> Any:
        url = find_function_url(api_id, region)
        refusal = access.refusal(url, request, region) if url is not None else None
        return refusal if refusal is not None else handle(self, request, api_id, region, **url_params)

    handle_if_allowed.access_checked = True  # type: ignore[attr-defined]
    FunctionUrlRouter.handle_lambda_url_invocation = handle_if_allowed
