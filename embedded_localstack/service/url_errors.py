"""AWS's answers to Function URL requests that do not reach the function, each written once.

* 403 ``AccessDeniedException`` ``{"Message": "Forbidden. For troubleshooting ..."}``: no permission, or an unsigned
  request to an AWS_IAM URL. The body is AWS's as recorded in November 2025 (localstack/localstack's AWS-validated
  snapshot ``TestLambdaPermissions::test_lambda_permission_url_invocation``); older answers said only "Forbidden".
* 403 with ``{"message": ...}`` and the SigV4 error type (``InvalidSignatureException``, ...): a signature that is
  malformed, expired or does not match (AWS's wording, e.g. "The request signature we calculated does not match").
* 429 ``{"message": "Rate Exceeded."}``: throttled (AWS docs "Throttling function URLs"; the body and
  ``ThrottlingException`` type are what AWS's Function URLs were seen answering for throttled requests).

Imported only inside .venv-localstack.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

FORBIDDEN_MESSAGE = (
    "Forbidden. For troubleshooting Function URL authorization issues, see: "
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
)
FORBIDDEN_TYPE = "AccessDeniedException"
THROTTLED_MESSAGE = "Rate Exceeded."
THROTTLED_TYPE = "ThrottlingException"


def error_response(status: int, error_type: str, payload: dict[str, Any]) -> Any:
    """A LocalStack Response with AWS's error headers and a JSON body."""
    from localstack.http import Response

    return Response(
        json.dumps(payload, separators=(",", ":")),
        status,
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
        mimetype="application/json",
    )


def forbidden() -> Any:
    return error_response(403, FORBIDDEN_TYPE, {"Message": FORBIDDEN_MESSAGE})


def signature_refused(error_type: str, message: str) -> Any:
    return error_response(403, error_type, {"message": message})


def throttled() -> Any:
    return error_response(429, THROTTLED_TYPE, {"message": THROTTLED_MESSAGE})
