"""Function environment variable names are validated as AWS validates them, on CreateFunction and
UpdateFunctionConfiguration.

LocalStack 4.9.2 checks only their total size (4 KB, ``LambdaProvider._verify_env_variables``), so any name was
accepted: ``BASH_FUNC_echo%%`` (which a bash on the host would read as a function definition), ``1A``, ``A`` and
the keys Lambda itself sets (``AWS_REGION``, ``_HANDLER``, the role's credentials, ...). AWS refuses them:

* a name that does not match the API model's pattern (botocore ``lambda/2015-03-31/service-2.json``, shape
  ``EnvironmentVariableName``: ``[a-zA-Z]([a-zA-Z0-9_])+``, the whole name, so at least two characters) is
  refused by AWS's request validation with ``ValidationException`` and the model's constraint text;
* a reserved key (AWS docs "Defined runtime environment variables") is refused with
  ``InvalidParameterValueException``, naming the reserved keys of the request in its order (``_HANDLER`` and
  ``_X_AMZN_TRACE_ID`` are outside the pattern already: the pattern's error comes first).

Both messages are the ones AWS returns (quoted in public CreateFunction error reports); the 4 KB check follows,
as before. Imported only inside .venv-localstack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NAME_PATTERN = "[a-zA-Z]([a-zA-Z0-9_])+"
NAME_MESSAGE = (
    "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
    f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {NAME_PATTERN}]"
)
RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
RESERVED_MESSAGE = (
    "Lambda was unable to configure your environment variables because the environment variables you have "
    "provided contains reserved keys that are currently not supported for modification. "
    "Reserved keys used in this request: {keys}"
)
_NAME = re.compile(NAME_PATTERN)


def name_problem(variables: Mapping[str, Any]) -> tuple[str, str] | None:
    """(AWS's error code, its message) for the first rule ``variables`` break, None if AWS accepts the names."""
    if not all(isinstance(name, str) and _NAME.fullmatch(name) for name in variables):
        return "ValidationException", NAME_MESSAGE
    reserved = [name for name in variables if name in RESERVED_KEYS]
    if reserved:
        return "InvalidParameterValueException", RESERVED_MESSAGE.format(keys=", ".join(reserved))
    return None


def validate_environment_variable_names() -> None:
    """Names first (as AWS: the request is validated before the size is measured), then LocalStack's 4 KB check."""
    from localstack.aws.api.lambda_ import InvalidParameterValueException
    from localstack.services.lambda_.invocation.lambda_models import ValidationException
    from localstack.services.lambda_.provider import LambdaProvider

    verify_size = LambdaProvider._verify_env_variables
    if getattr(verify_size, "names_checked", False):
        return

    def verify_env_variables(env_vars: dict[str, str]) -> None:
        problem = name_problem(env_vars)
        if problem is not None:
            code, message = problem
            if code == "ValidationException":
                raise ValidationException(message)
            raise InvalidParameterValueException(message, Type="User")
        verify_size(env_vars)

    verify_env_variables.names_checked = True  # type: ignore[attr-defined]
    LambdaProvider._verify_env_variables = staticmethod(verify_env_variables)
