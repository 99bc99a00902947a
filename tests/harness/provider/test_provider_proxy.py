"""The gRPC pass-through between Terraform and a provider, against a real gRPC server standing in for the provider.

The stand-in answers raw bytes on a unix socket, the way the proxy forwards them: what reaches it, what comes
back (messages over gRPC's 4 MB default, streams both ways, error codes and details), and which config
validations the proxy answers itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from lambda_url_harness.provider.proxy import UNLIMITED_MESSAGES, ProviderProxy, ValidationCache

VALIDATE = "/tfplugin5.Provider/PrepareProviderConfig"
APPLY = "/tfplugin5.Provider/ApplyResourceChange"
STDIO = "/plugin.GRPCStdio/StreamStdio"
BROKER = "/plugin.GRPCBroker/StartStream"
BIG = 5 * 1024 * 1024


class StandIn(grpc.GenericRpcHandler):
    """Echoes, counts calls per method, refuses requests that start with b"bad"."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.metadata: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _count(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            self.metadata = [(key, value) for key, value in context.invocation_metadata() if key == "x-caller"]

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = details.method  # type: ignore[attr-defined]

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            self._count(method, context)
            if request.startswith(b"bad"):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the configuration is invalid")
            return b"answer to " + request[:64] + (b"x" * BIG if request == b"big" else b"")

        def lines(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            self._count(method, context)
            yield from (b"line 1", b"line 2", b"line 3")

        def echo(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            self._count(method, context)
            for request in requests:
                yield b"echo " + request

        if method == STDIO:
            return grpc.unary_stream_rpc_method_handler(lines)
        if method == BROKER:
            return grpc.stream_stream_rpc_method_handler(echo)
        return grpc.unary_unary_rpc_method_handler(unary)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[StandIn, str]]:
    stand_in = StandIn()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[stand_in], options=UNLIMITED_MESSAGES)
    address = str(tmp_path / "provider.sock")
    server.add_insecure_port(f"unix:{address}")
    server.start()
    yield stand_in, address
    server.stop(0).wait()


@pytest.fixture
def cache(tmp_path: Path) -> ValidationCache:
    return ValidationCache(tmp_path / "validations")


@pytest.fixture
def proxy(upstream: tuple[StandIn, str], tmp_path: Path, cache: ValidationCache) -> Iterator[ProviderProxy]:
    proxy = ProviderProxy(upstream[1], str(tmp_path / "proxy.sock"), "provider-a", cache)
    yield proxy
    proxy.stop()


@pytest.fixture
def channel(proxy: ProviderProxy) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"unix:{proxy.address}", options=UNLIMITED_MESSAGES) as channel:
        yield channel


def test_calls_and_metadata_pass_through_also_beyond_four_megabytes(
    upstream: tuple[StandIn, str], channel: grpc.Channel
) -> None:
    stand_in, _ = upstream
    apply = channel.unary_unary(APPLY)
    assert apply(b"create", metadata=[("x-caller", "terraform")]) == b"answer to create"
    assert stand_in.metadata == [("x-caller", "terraform")]
    answer = apply(b"big")
    assert len(answer) == len(b"answer to big") + BIG
    assert stand_in.calls[APPLY] == 2, "never answered by the proxy itself"
    apply(b"create")
    assert stand_in.calls[APPLY] == 3


def test_errors_reach_the_caller_with_their_code_and_details_and_are_not_kept(
    upstream: tuple[StandIn, str], channel: grpc.Channel
) -> None:
    stand_in, _ = upstream
    validate = channel.unary_unary(VALIDATE)
    for attempt in (1, 2):
        with pytest.raises(grpc.RpcError) as failure:
            validate(b"bad config")
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert failure.value.details() == "the configuration is invalid"
        assert stand_in.calls[VALIDATE] == attempt


def test_a_repeated_validation_is_answered_with_the_providers_own_answer(
    upstream: tuple[StandIn, str], channel: grpc.Channel, proxy: ProviderProxy, cache: ValidationCache, tmp_path: Path
) -> None:
    stand_in, address = upstream
    validate = channel.unary_unary(VALIDATE)
    first = validate(b"config 1")
    assert validate(b"config 1") == first
    assert stand_in.calls[VALIDATE] == 1
    assert (proxy.misses, proxy.hits) == (1, 1)
    assert len(cache) == 1, "one file per answer"

    validate(b"config 2")  # another configuration reaches the provider
    assert stand_in.calls[VALIDATE] == 2

    # Another proxy sharing the cache: the same provider's answers are known, another provider's are not.
    same = ProviderProxy(address, str(tmp_path / "same.sock"), "provider-a", cache)
    other = ProviderProxy(address, str(tmp_path / "other.sock"), "provider-b", cache)
    try:
        for peer, calls in ((same, 2), (other, 3)):
            with grpc.insecure_channel(f"unix:{peer.address}") as peer_channel:
                assert peer_channel.unary_unary(VALIDATE)(b"config 1") == first
            assert stand_in.calls[VALIDATE] == calls
    finally:
        same.stop()
        other.stop()


def test_streams_are_relayed_both_ways(upstream: tuple[StandIn, str], channel: grpc.Channel) -> None:
    assert list(channel.unary_stream(STDIO)(b"")) == [b"line 1", b"line 2", b"line 3"]
    answers = channel.stream_stream(BROKER)(iter([b"a", b"b"]))
    assert list(answers) == [b"echo a", b"echo b"]


def _proxy_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("tfproxy")}


def test_stop_ends_the_listener_and_its_threads(upstream: tuple[StandIn, str], tmp_path: Path) -> None:
    before = _proxy_threads()  # other proxies of this session (deployments still alive) keep theirs
    proxy = ProviderProxy(upstream[1], str(tmp_path / "p.sock"), "provider-a", ValidationCache(tmp_path / "c"))
    with grpc.insecure_channel(f"unix:{proxy.address}") as channel:
        channel.unary_unary(APPLY)(b"x")
    assert _proxy_threads() - before, "the call ran on one of its threads"
    proxy.stop()
    with grpc.insecure_channel(f"unix:{proxy.address}") as channel, pytest.raises(grpc.RpcError) as failure:
        channel.unary_unary(APPLY)(b"x", timeout=2)
    assert failure.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    pause = threading.Event()
    for _ in range(50):
        if not _proxy_threads() - before:
            break
        pause.wait(0.1)
    assert not _proxy_threads() - before


def test_a_proxy_that_cannot_listen_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    before = _proxy_threads()
    with pytest.raises(RuntimeError):
        ProviderProxy(
            str(tmp_path / "provider.sock"),
            str(tmp_path / "missing-dir" / "proxy.sock"),
            "provider-a",
            ValidationCache(tmp_path / "c"),
        )
    assert not _proxy_threads() - before
