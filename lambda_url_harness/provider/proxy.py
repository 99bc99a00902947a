"""A gRPC pass-through between Terraform and one provider server that answers repeated config validations.

With the aws provider attached once per working directory (:mod:`lambda_url_harness.provider.server`), what is
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
configuration, reaches the provider. The cache is a directory: a pytest session shares one among its deployments.

It runs as its own process (``python -m lambda_url_harness.provider.proxy``, :func:`main`), which also starts the
provider as its child: like Terraform's own provider processes, the pair outlives a harness that is killed, so a
Terraform command in flight finishes with its provider; the next run's recovery stops the pair after Terraform.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from pathlib import Path
from typing import Any, NoReturn

import grpc

from lambda_url_harness.errors import HarnessError

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
PROVIDER_STOP_GRACE_S = 10.0
PR_SET_PDEATHSIG = 1
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
REATTACH_VARIABLE = "TF_REATTACH_PROVIDERS"
REATTACH_PREFIX = f"{REATTACH_VARIABLE}="
"""How the provider's ``-debug`` mode (and this proxy, for Terraform) announces the address to attach to."""
VALIDATION_HIT = "harness-proxy: validation answered from the cache"
VALIDATION_MISS = "harness-proxy: validation answered by the provider"
"""Lines the proxy process prints per validation (its stdout is the server's output file; tests count them)."""


def provider_identity(binary: Path, env: Mapping[str, str]) -> str:
    """What a validation answer depends on besides the request: the provider binary and its environment."""
    digest = hashlib.sha256(str(binary.resolve()).encode())
    for name, value in sorted(env.items()):
        digest.update(b"\0" + name.encode() + b"=" + value.encode())
    return digest.hexdigest()


class ValidationCache:
    """Providers' answers to configuration validations, by provider identity, method and request bytes: one file
    each in ``directory`` (written atomically), so that proxies in several processes share them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: tuple[str, str, bytes]) -> Path:
        identity, method, request = key
        digest = hashlib.sha256(identity.encode() + b"\0" + method.encode() + b"\0" + request).hexdigest()
        return self.directory / digest

    def get(self, key: tuple[str, str, bytes]) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except OSError:
            return None

    def put(self, key: tuple[str, str, bytes], answer: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(key)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(answer)
        temporary.replace(path)

    def __len__(self) -> int:
        return len(list(self.directory.glob("[0-9a-f]*[0-9a-f]"))) if self.directory.is_dir() else 0


class ProviderProxy:
    """Listens on the unix socket ``address`` and forwards to the provider at ``upstream`` (a unix socket path).

    ``identity`` (:func:`provider_identity`) names the provider for ``cache``; ``hits`` and ``misses`` count this
    proxy's validations answered from the cache and by the provider.
    """

    def __init__(
        self,
        upstream: str,
        address: str,
        identity: str,
        cache: ValidationCache,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.address = address
        self.identity = identity
        self._cache = cache
        self._report = report
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
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(method)
        cached = method in CACHED_METHODS

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            key = (self.identity, method, request)
            if cached:
                answer = self._cache.get(key)
                if answer is not None:
                    with self._lock:
                        self.hits += 1
                    if self._report is not None:
                        self._report(VALIDATION_HIT)
                    return answer
            try:
                answer = call(request, metadata=_forwardable(context))
            except grpc.RpcError as exc:
                _abort_like(context, exc)
            if cached:
                self._cache.put(key, answer)
                with self._lock:
                    self.misses += 1
                if self._report is not None:
                    self._report(VALIDATION_MISS)
            return answer

        return handle

    def unary_stream(self, method: str) -> Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]:
        call: grpc.UnaryStreamMultiCallable[bytes, bytes] = self._channel.unary_stream(method)

        def handle(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            responses = call(request, metadata=_forwardable(context))
            context.add_callback(lambda: _cancel(responses))
            return _relay(responses, context)

        return handle

    def stream_stream(self, method: str) -> Callable[[Iterator[bytes], grpc.ServicerContext], Iterator[bytes]]:
        call: grpc.StreamStreamMultiCallable[bytes, bytes] = self._channel.stream_stream(method)

        def handle(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            responses = call(_until_closed(requests), metadata=_forwardable(context))
            context.add_callback(lambda: _cancel(responses))
            return _relay(responses, context)

        return handle


class _Forwarder(grpc.GenericRpcHandler):
    def __init__(self, proxy: ProviderProxy) -> None:
        self._proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes]:
        method = handler_call_details.method
        if method in STREAM_STREAM_METHODS:
            return grpc.stream_stream_rpc_method_handler(self._proxy.stream_stream(method))
        if method in UNARY_STREAM_METHODS:
            return grpc.unary_stream_rpc_method_handler(self._proxy.unary_stream(method))
        return grpc.unary_unary_rpc_method_handler(self._proxy.unary(method))


def _forwardable(context: grpc.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    return tuple((key, value) for key, value in context.invocation_metadata() if not key.startswith(":"))


def _cancel(call: grpc.RpcContext) -> None:
    call.cancel()


def _until_closed(requests: Iterator[bytes]) -> Iterator[bytes]:
    """The caller's request stream, ending (not raising) when the caller cancels or disconnects."""
    try:
        yield from requests
    except grpc.RpcError:
        return


def _relay(responses: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    try:
        yield from responses
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            _abort_like(context, exc)


def _abort_like(context: grpc.ServicerContext, exc: grpc.RpcError) -> NoReturn:
    context.abort(exc.code(), exc.details() or "")
    raise AssertionError("unreachable: ServicerContext.abort raises")


# ------------------------------------------------------------------------- the proxy process


class _StoppedWhileStarting(Exception):
    """SIGINT or SIGTERM arrived before the provider announced its address."""


class ProxyStartError(HarnessError):
    """The provider did not announce a usable address, or the proxy could not listen."""


def _announced_address(provider: subprocess.Popen[str], echo: Callable[[str], None]) -> tuple[dict[str, Any], str]:
    """The provider's reattach document and its unix socket, from its stdout (other lines are echoed)."""
    assert provider.stdout is not None
    for line in provider.stdout:
        text = line.strip()
        if not (text.startswith(REATTACH_PREFIX) and text.endswith("'")):
            echo(line.rstrip("\n"))
            continue
        value = text.removeprefix(REATTACH_PREFIX).strip("'")
        try:
            document = json.loads(value)
            address = document[AWS_PROVIDER]["Addr"]
            if address.get("Network") != "unix" or not isinstance(address.get("String"), str):
                raise TypeError(f"address {address!r} is not a unix socket")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProxyStartError(f"the provider printed an unexpected reattach line ({exc}): {value}") from None
        return document, address["String"]
    raise ProxyStartError(f"the provider exited with {provider.wait()} before it listened")


def _die_with_parent() -> None:
    """In the provider's child process before exec: SIGKILL when the proxy process ends, however it ends."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _drain(stream: Any, echo: Callable[[str], None]) -> None:
    for line in stream:
        echo(line.rstrip("\n"))


def main(argv: list[str] | None = None) -> int:
    """Start the provider (``-debug``), put the proxy in front of it, print the reattach line for Terraform, and run
    until SIGINT/SIGTERM (then end the provider) or until the provider exits (with its exit code)."""
    parser = argparse.ArgumentParser(prog="python -m lambda_url_harness.provider.proxy")
    parser.add_argument("--provider", type=Path, required=True, help="the provider binary")
    parser.add_argument("--listen", required=True, help="unix socket path for Terraform")
    parser.add_argument("--cache-dir", type=Path, required=True, help="validation answers (shared by proxies)")
    parser.add_argument("--identity", required=True, help="provider_identity() of the provider and its environment")
    args = parser.parse_args(argv)

    def echo(line: str) -> None:
        print(line, flush=True)

    stop = threading.Event()
    starting = threading.Event()
    starting.set()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        if starting.is_set():  # still reading the provider's output for its address: stop reading
            raise _StoppedWhileStarting

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    # The provider is our child in our process group: stopping the group (recovery) stops both.
    provider = subprocess.Popen(
        [str(args.provider), "-debug"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # before any thread starts here
    )
    proxy: ProviderProxy | None = None
    try:
        try:
            document, upstream = _announced_address(provider, echo)
            starting.clear()
            proxy = ProviderProxy(upstream, args.listen, args.identity, ValidationCache(args.cache_dir), echo)
        except _StoppedWhileStarting:
            return 0
        except (ProxyStartError, OSError, RuntimeError) as exc:
            print(f"harness-proxy: {exc}", file=sys.stderr, flush=True)
            return 3
        document[AWS_PROVIDER]["Addr"]["String"] = proxy.address
        threading.Thread(target=_drain, args=(provider.stdout, echo), daemon=True).start()
        echo(f"\t{REATTACH_PREFIX}'{json.dumps(document)}'")
        while not stop.is_set() and provider.poll() is None:
            stop.wait(0.2)
        return provider.returncode or 0
    finally:
        if proxy is not None:
            proxy.stop()
        if provider.poll() is None:
            provider.send_signal(signal.SIGINT)  # it closes its socket and exits
            try:
                provider.wait(timeout=PROVIDER_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                provider.kill()
                provider.wait()


if __name__ == "__main__":
    raise SystemExit(main())
