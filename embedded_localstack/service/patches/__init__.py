"""Everything the embedded mode changes inside LocalStack: one module per patched behaviour, applied once.

Written against localstack-core 4.9.2 and refused on any other version (each change replaces a function of that
version): :func:`apply_all` is the version gate. Imported only inside .venv-localstack, by
:mod:`embedded_localstack.service.main` before LocalStack starts.

Fidelity (what AWS does and LocalStack 4.9.2 does not):

* :mod:`.loopback`: the gateway binds the configured (loopback) host only.
* :mod:`.function_gateway`: functions reach a listener of their own, without LocalStack's internal endpoints.
* :mod:`.function_url_bodies`: Function URL bodies reach the function untouched.
* :mod:`.function_url_payload_limit`: too-large Function URL events get 413.
* :mod:`.function_url_auth`: AuthType AWS_IAM needs a valid SigV4 signature, AuthType NONE a public permission.
* :mod:`.function_url_cors`: preflights and CORS headers from the URL's Cors config; no gateway CORS for URLs.
* :mod:`.function_url_throttling`: a throttled Function URL request gets 429.
* :mod:`.invoked_via_function_url`: AddPermission keeps ``InvokedViaFunctionUrl`` as AWS's condition.
* :mod:`.invoke_payload_limit`: too-large Invoke payloads get ``RequestTooLargeException``.
* :mod:`.guarded_unzip`: code is unpacked by the one guarded unzip; unsafe archives are refused.
* :mod:`.new_runtimes`: ``nodejs24.x`` and ``python3.14`` are accepted; a python runtime without an interpreter is
  refused at CreateFunction.
* :mod:`.environment_variables`: variable names are validated as AWS does (pattern, reserved keys).

Tuning (behaviour-preserving CPU savings, left out when the launcher starts LocalStack with its stock settings,
``EMBEDDED_LOCALSTACK_TUNING=off``; docs/benchmarks.md):

* :mod:`.content_type_cache`, :mod:`.log_batching`, :mod:`.active_polling`, :mod:`.shared_timers`,
  :mod:`.metrics_worker`.
"""

from __future__ import annotations

from importlib import metadata

from embedded_localstack.service.interpreters import InterpreterResolver
from embedded_localstack.service.patches.active_polling import poll_for_active_functions_quickly
from embedded_localstack.service.patches.content_type_cache import memoize_twisted_content_type_parsing
from embedded_localstack.service.patches.environment_variables import validate_environment_variable_names
from embedded_localstack.service.patches.function_gateway import open_function_gateway
from embedded_localstack.service.patches.function_url_auth import check_function_url_access
from embedded_localstack.service.patches.function_url_bodies import pass_function_url_bodies_through
from embedded_localstack.service.patches.function_url_cors import (
    answer_function_url_cors,
    exempt_function_urls_from_gateway_cors,
)
from embedded_localstack.service.patches.function_url_payload_limit import (
    answer_too_large_url_requests,
    limit_function_url_payloads,
)
from embedded_localstack.service.patches.function_url_throttling import answer_throttled_url_requests
from embedded_localstack.service.patches.guarded_unzip import guard_code_unpacking
from embedded_localstack.service.patches.invoke_payload_limit import limit_invoke_payloads
from embedded_localstack.service.patches.invoked_via_function_url import carry_invoked_via_function_url
from embedded_localstack.service.patches.log_batching import batch_lambda_log_shipping
from embedded_localstack.service.patches.loopback import bind_gateway_to_listen_hosts
from embedded_localstack.service.patches.metrics_worker import record_invocation_metrics_on_one_thread
from embedded_localstack.service.patches.new_runtimes import accept_new_runtimes, refuse_runtimes_without_interpreter
from embedded_localstack.service.patches.shared_timers import share_execution_environment_timers
from embedded_localstack.settings import tuning_enabled

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
    open_function_gateway()
    pass_function_url_bodies_through()
    answer_too_large_url_requests()
    if tuning_enabled():
        memoize_twisted_content_type_parsing()
        batch_lambda_log_shipping()
        poll_for_active_functions_quickly()
        share_execution_environment_timers()
        record_invocation_metrics_on_one_thread()
    limit_function_url_payloads()
    # The URL handler is wrapped from the inside out: throttling, then access, then CORS (preflights are answered
    # before access is checked, as a browser sends them without credentials).
    answer_throttled_url_requests()
    check_function_url_access()
    answer_function_url_cors()
    exempt_function_urls_from_gateway_cors()
    carry_invoked_via_function_url()
    limit_invoke_payloads()
    guard_code_unpacking()
    accept_new_runtimes()
    refuse_runtimes_without_interpreter(InterpreterResolver())
    validate_environment_variable_names()
    _applied = True
