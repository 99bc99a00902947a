"""Everything the embedded mode changes inside LocalStack, applied once, before LocalStack starts.

Written against localstack-core 4.9.2 and refused on any other version (each change replaces a function of that
version). Imported only inside .venv-localstack, by :mod:`embedded_localstack.localstack_process`.

* :mod:`embedded_localstack.loopback`: the gateway binds the configured (loopback) host only.
* :mod:`embedded_localstack.function_urls`: Function URL bodies untouched; too-large URL events get 413.
* :mod:`embedded_localstack.speedups`: memoised content-type parsing; batched Lambda log shipping; quick polls
  for Active after a synchronous create; shared keep-alive timers and one invocation-metrics thread (all left out
  when the launcher starts LocalStack with its stock settings, ``EMBEDDED_LOCALSTACK_TUNING=off``).
* Invoke payloads over Lambda's synchronous limit get AWS's ``RequestTooLargeException`` (LocalStack passes them).
* Function code is unpacked by the one guarded unzip (:mod:`embedded_localstack.code_unpacking`), and an unsafe
  archive is refused by CreateFunction/UpdateFunctionCode with ``InvalidParameterValueException``.
"""

from __future__ import annotations

import io
import logging
import zipfile
from importlib import metadata
from typing import Any

from embedded_localstack.code_unpacking import REFUSED_MESSAGE, UnsafeArchiveError, check_archive_bytes, safe_unzip
from embedded_localstack.function_urls import (
    MAX_INVOKE_PAYLOAD_BYTES,
    limit_function_url_payloads,
    pass_function_url_bodies_through,
)
from embedded_localstack.loopback import bind_gateway_to_listen_hosts
from embedded_localstack.speedups import (
    batch_lambda_log_shipping,
    memoize_twisted_content_type_parsing,
    poll_for_active_functions_quickly,
    record_invocation_metrics_on_one_thread,
    share_execution_environment_timers,
    tuning_enabled,
)

log = logging.getLogger(__name__)

LOCALSTACK_VERSION = "4.9.2"
_applied = False


class UnsupportedLocalStackError(RuntimeError):
    """The installed localstack-core is not the version these patches were written for."""


def apply_all() -> None:
    """Apply every change (once); raise UnsupportedLocalStackError on another localstack-core version."""
    global _applied
    if _applied:
        return
    installed = metadata.version("localstack-core")
    if installed != LOCALSTACK_VERSION:
        raise UnsupportedLocalStackError(
            f"embedded mode patches localstack-core {LOCALSTACK_VERSION}, but {installed} is installed; "
            "recreate .venv-localstack with `make venv`"
        )
    bind_gateway_to_listen_hosts()
    pass_function_url_bodies_through()
    if tuning_enabled():
        memoize_twisted_content_type_parsing()
        batch_lambda_log_shipping()
        poll_for_active_functions_quickly()
        share_execution_environment_timers()
        record_invocation_metrics_on_one_thread()
    limit_function_url_payloads()
    limit_invoke_payloads()
    guard_code_unpacking()
    _applied = True


def limit_invoke_payloads() -> None:
    """Invoke with a payload over 6291556 bytes: RequestTooLargeException (413), as AWS answers."""
    from localstack.aws.api.lambda_ import RequestTooLargeException
    from localstack.services.lambda_.provider import LambdaProvider

    invoke = LambdaProvider.invoke

    def invoke_within_limit(self: Any, context: Any, function_name: Any, *args: Any, **kwargs: Any) -> Any:
        payload = kwargs.get("payload")
        if hasattr(payload, "read"):  # LocalStack reads it as a stream: read it once, hand on a fresh one
            payload = payload.read()
            kwargs["payload"] = io.BytesIO(payload)
        if payload is not None and len(payload) > MAX_INVOKE_PAYLOAD_BYTES:
            error = RequestTooLargeException(
                f"Request must be smaller than {MAX_INVOKE_PAYLOAD_BYTES} bytes for the Invoke operation"
            )
            error.status_code = 413
            raise error
        return invoke(self, context, function_name, *args, **kwargs)

    LambdaProvider.invoke = invoke_within_limit


def guard_code_unpacking() -> None:
    from localstack.aws.api.lambda_ import InvalidParameterValueException
    from localstack.services.lambda_ import provider
    from localstack.services.lambda_.invocation import lambda_models, lambda_service

    store = lambda_service.store_lambda_archive

    def store_checked_archive(archive_file: bytes, *args: Any, **kwargs: Any) -> Any:
        try:
            check_archive_bytes(archive_file)
        except UnsafeArchiveError as error:
            log.warning("refused function code: %s", error)
            raise InvalidParameterValueException(REFUSED_MESSAGE, Type="User") from error
        except (zipfile.BadZipFile, OSError, ValueError) as error:  # not a zip: LocalStack's own check words it
            log.debug("archive not checked: %s", error)
        return store(archive_file, *args, **kwargs)

    lambda_service.store_lambda_archive = store_checked_archive
    provider.store_lambda_archive = store_checked_archive

    def unzip(path: str, target_dir: str, overwrite: bool = True) -> None:
        safe_unzip(path, target_dir)

    lambda_models.unzip = unzip
