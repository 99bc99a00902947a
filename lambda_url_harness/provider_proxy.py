"""A gRPC pass-through between Terraform and one provider server that answers repeated config validations.

With the aws provider attached once per working directory (:mod:`lambda_url_harness.provider_server`), what is
left of its CPU per command is mostly ``PrepareProviderConfig`` (the protocol's ValidateProviderConfig): the
provider SDK re-validates the schema of every one of its ~1,500 resources on each call (``InternalValidate``,
~1.3 s of CPU here) before it checks the few provider arguments. Terraform calls it once per walk: three times
per ``apply``, three to four per ``destroy``, each time with the same request when the provider configuration
is literal (tflocal's override is).

This proxy forwards every call (request and response messages as bytes, the caller's metadata, streams, status
codes and details; not the response's own metadata, which Terraform's providers do not use) and keeps the
answers to ``PrepareProviderConfig``/``ValidateProviderConfig`` in a :class:`ValidationCache`, per provider (its
binary and its environment: defaults may come from environment variables) and exact request bytes: an identical
request to the same provider is answered with the provider's own earlier answer. Any other request, or a changed
configuration, reaches the provider. A pytest session shares one cache among its deployments.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from pathlib import Path
from typing import Any, NoReturn

import grpc

log = logging.getLogger(__name__)

CACHED_METHODS = frozenset(
    {
        "/tfplugin5.Provider/PrepareProviderConfig",
        "/tfplugin6.Provider/ValidateProviderConfig",
    }
)
"""Pure functions of their request for one provider binary: the configuration's validation."""
STREAM_STREAM_METHODS = frozenset({"/plugin.GRPCBroker/StartStream"})
UNARY_STREAM_METHODS = frozenset(
    {
        "/plugin.GRPCStdio/StreamStdio",
        # Server-streaming provider RPCs of newer protocol versions (5.10/6.10, Terraform >= 1.14).
        "/tfplugin5.Provider/ListResource",
        "/tfplugin6.Provider/ListResource",
        "/tfplugin5.Provider/InvokeAction",
        "/tfplugin6.Provider/InvokeAction",
    }
)
"""go-plugin's own streaming services and the streaming provider RPCs; every other one is unary."""
UNLIMITED_MESSAGES = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
"""The aws provider's schema is one message of many MB; gRPC's default limit is 4 MB."""
MAX_CONCURRENT_RPCS = 64
"""Terraform runs up to 10 operations in parallel; each provider instance also holds two go-plugin streams."""
STOP_GRACE_S = 2.0


def provider_identity(binary: Path, env: Mapping[str, str]) -> str:
    """What a validation answer depends on besides the request: the provider binary and its environment."""
    digest = hashlib.sha256(str(binary.resolve()).encode())
    for name, value in sorted(env.items()):
        digest.update(b"\0" + name.encode() + b"=" + value.encode())
    return digest.hexdigest()


class ValidationCache:
    """Providers' answers to configuration validations, by provider identity, method and request bytes."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str, bytes], bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, bytes]) -> bytes | None:
        with self._lock:
            return self._answers.get(key)

    def put(self, key: tuple[str, str, bytes], answer: bytes) -> None:
        with self._lock:
            self._answers[key] = answer

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)


class ProviderProxy:
    """Listens on the unix socket ``address`` and forwards to the provider at ``upstream`` (a unix socket path).

    ``identity`` (:func:`provider_identity`) names the provider for ``cache``; ``hits`` and ``misses`` count this
    proxy's validations answered from the cache and by the provider.
    """

    def __init__(self, upstream: str, address: str, identity: str, cache: ValidationCache | None = None) -> None:
        self.upstream = upstream
        self.address = address
        self.identity = identity
        self._cache = cache if cache is not None else ValidationCache()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._executor = futures.ThreadPoolExecutor(max_workers=MAX_CONCURRENT_RPCS, thread_name_prefix="tfproxy")
        self._channel = grpc.insecure_channel(f"unix:{upstream}", options=UNLIMITED_MESSAGES)
        self._server = grpc.server(self._executor, handlers=[_Forwarder(self)], options=UNLIMITED_MESSAGES)
        try:
            self._server.add_insecure_port(f"unix:{address}")
            self._server.start()
        except BaseException:
            self.stop()
            raise
        log.debug("provider proxy %s -> %s", address, upstream)

    def stop(self) -> None:
        """Stop listening (calls in flight get ``STOP_GRACE_S``), end the worker threads, close the channel."""
        self._server.stop(STOP_GRACE_S).wait(STOP_GRACE_S + 1)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._channel.close()

    # ---------------------------------------------------------------- forwarding

    def unary(self, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        call = self._channel.unary_unary(method)
        cached = method in CACHED_METHODS

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            key = (self.identity, method, request)
            if cached:
                answer = self._cache.get(key)
                if answer is not None:
                    with self._lock:
                        self.hits += 1
                    return answer
            try:
                answer = call(request, metadata=_forwardable(context))
            except grpc.RpcError as exc:
                _abort_like(context, exc)
            if cached:
                self._cache.put(key, answer)
                with self._lock:
                    self.misses += 1
            return answer

        return handle

    def unary_stream(self, method: str) -> Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]:
        call = self._channel.unary_stream(method)

        def handle(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            responses = call(request, metadata=_forwardable(context))
            context.add_callback(responses.cancel)
            return _relay(responses, context)

        return handle

    def stream_stream(self, method: str) -> Callable[[Iterator[bytes], grpc.ServicerContext], Iterator[bytes]]:
        call = self._channel.stream_stream(method)

        def handle(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            responses = call(_until_closed(requests), metadata=_forwardable(context))
            context.add_callback(responses.cancel)
            return _relay(responses, context)

        return handle


class _Forwarder(grpc.GenericRpcHandler):
    def __init__(self, proxy: ProviderProxy) -> None:
        self._proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if method in STREAM_STREAM_METHODS:
            return grpc.stream_stream_rpc_method_handler(self._proxy.stream_stream(method))
        if method in UNARY_STREAM_METHODS:
            return grpc.unary_stream_rpc_method_handler(self._proxy.unary_stream(method))
        return grpc.unary_unary_rpc_method_handler(self._proxy.unary(method))


def _forwardable(context: grpc.ServicerContext) -> list[tuple[str, Any]]:
    return [(key, value) for key, value in context.invocation_metadata() if not key.startswith(":")]


def _until_closed(requests: Iterator[bytes]) -> Iterator[bytes]:
    """The caller's request stream, ending (not raising) when the caller cancels or disconnects."""
    try:
        yield from requests
    except grpc.RpcError:
        return


def _relay(responses: Any, context: grpc.ServicerContext) -> Iterator[bytes]:
    try:
        yield from responses
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            _abort_like(context, exc)


def _abort_like(context: grpc.ServicerContext, exc: grpc.RpcError) -> NoReturn:
    context.abort(exc.code(), exc.details() or "")  # type: ignore[attr-defined]
    raise AssertionError("unreachable: ServicerContext.abort raises")
