"""Runtimes AWS added after LocalStack 4.9.2 (``nodejs24.x``, ``python3.14``, Nov 2025) are accepted; a runtime that
cannot run here is refused at CreateFunction/UpdateFunctionConfiguration as AWS refuses an unsupported one.

LocalStack 4.9.2 checks ``Runtime`` against ``localstack.services.lambda_.runtimes.ALL_RUNTIMES`` (and the lists
derived from it: ``SUPPORTED_RUNTIMES``, ``RUNTIMES_AGGREGATED`` under ``LAMBDA_RUNTIME_VALIDATION``) and quotes
``VALID_RUNTIMES`` in its error. Layers already accept both (``VALID_LAYER_RUNTIMES``). ``IMAGE_MAPPING`` (the
Docker image per runtime) and the Docker executor's init binary are used by the Docker executor only. The lists are
extended in place (the provider imported them by name) with plain strings, which compare equal to the enum's.

A python3.X runtime whose interpreter the host does not have is refused with AWS's wording for a runtime it no longer
supports, naming the setting that provides one (``EMBEDDED_LAMBDA_PYTHON3_X``); before, such a function was created
and went ``State=Failed``. Imported only inside .venv-localstack.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from embedded_localstack.runtime_packages import PYTHON_RUNTIME
from embedded_localstack.service.interpreters import InterpreterError, InterpreterResolver

log = logging.getLogger(__name__)

NEW_RUNTIMES = {"nodejs24.x": ("nodejs", "nodejs:24"), "python3.14": ("python", "python:3.14")}
"""Runtime -> (its family in RUNTIMES_AGGREGATED, its image on Amazon ECR Public as IMAGE_MAPPING names them)."""
UNSUPPORTED_MESSAGE = (
    "The runtime parameter of {runtime} is not supported for creating or updating AWS Lambda functions in this "
    "embedded LocalStack: {reason}"
)


def accept_new_runtimes() -> None:
    from localstack.services.lambda_ import api_utils, provider, runtimes

    for runtime, (family, image) in NEW_RUNTIMES.items():
        if runtime in runtimes.ALL_RUNTIMES:
            continue
        runtimes.IMAGE_MAPPING[runtime] = image  # type: ignore[index]
        for listed in (runtimes.ALL_RUNTIMES, runtimes.SUPPORTED_RUNTIMES, runtimes.TESTED_RUNTIMES):
            listed.append(runtime)  # type: ignore[arg-type]
        runtimes.RUNTIMES_AGGREGATED[family].insert(0, runtime)  # type: ignore[arg-type]
    valid = runtimes.VALID_RUNTIMES.rstrip("]") + "".join(
        f", {r}" for r in NEW_RUNTIMES if f" {r}," not in runtimes.VALID_RUNTIMES
    )
    valid += "]"
    runtimes.VALID_RUNTIMES = provider.VALID_RUNTIMES = api_utils.VALID_RUNTIMES = valid


def refuse_runtimes_without_interpreter(resolver: InterpreterResolver) -> None:
    """CreateFunction and UpdateFunctionConfiguration refuse a python3.X runtime whose interpreter is missing."""
    from localstack.aws.api.lambda_ import InvalidParameterValueException, PackageType
    from localstack.services.lambda_.provider import LambdaProvider

    validate = LambdaProvider._validate_runtime
    if getattr(validate, "checks_interpreters", False):
        return

    def check(runtime: Any) -> None:
        if runtime and PYTHON_RUNTIME.match(str(runtime)):
            try:
                resolver.resolve(str(runtime))
            except InterpreterError as error:
                message = UNSUPPORTED_MESSAGE.format(runtime=runtime, reason=error)
                raise InvalidParameterValueException(message, Type="User") from error

    def validate_runtime(self: Any, package_type: Any, runtime: Any) -> None:
        validate(self, package_type, runtime)
        if package_type in (None, PackageType.Zip):
            check(runtime)

    validate_runtime.checks_interpreters = True  # type: ignore[attr-defined]
    LambdaProvider._validate_runtime = validate_runtime  # type: ignore[method-assign]

    update = LambdaProvider.update_function_configuration

    @functools.wraps(update)  # keeps the attributes LocalStack's dispatch table finds the operation by
    def update_function_configuration(self: Any, context: Any, request: Any) -> Any:
        check(request.get("Runtime"))
        return update(self, context, request)

    LambdaProvider.update_function_configuration = update_function_configuration  # type: ignore[method-assign]
