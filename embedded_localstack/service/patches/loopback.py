"""Make LocalStack's gateway listen on the configured host only (embedded mode binds loopback).

In localstack-core 4.9.2, ``TwistedRuntimeServer.register`` (localstack/runtime/server/twisted.py) creates
``TCP4ServerEndpoint(reactor, port)`` for every IPv4 entry of GATEWAY_LISTEN without ``interface=`` (there is
a ``# TODO: interface = host?`` next to it), so ``GATEWAY_LISTEN=127.0.0.1:4566`` still listens on
``0.0.0.0:4566``. We replace that method, before LocalStack starts, with one that passes the host.
Imported only inside LocalStack's virtualenv.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - the hosts we refuse


def bind_gateway_to_listen_hosts() -> None:
    from localstack import config
    from localstack.aws.serving.twisted import TLSMultiplexerFactory
    from localstack.runtime.server.twisted import TwistedRuntimeServer
    from rolo.serving.twisted import TwistedGateway
    from twisted.internet import endpoints, reactor, ssl

    def register(self, gateway, listen, ssl_creds=None) -> None:  # same signature as the replaced method
        site = TwistedGateway(gateway)
        protocol_factory = site
        if ssl_creds:
            cert_file_name, key_file_name = ssl_creds
            context_factory = ssl.DefaultOpenSSLContextFactory(key_file_name, cert_file_name)
            context_factory.getContext().use_certificate_chain_file(cert_file_name)
            protocol_factory = TLSMultiplexerFactory(context_factory, False, site)
        for host_and_port in listen:
            if host_and_port.host in WILDCARD_HOSTS:
                raise ValueError(f"embedded LocalStack listens on loopback only, not {host_and_port}")
            endpoint_type = (
                endpoints.TCP6ServerEndpoint
                if config.is_ipv6_address(host_and_port.host)
                else endpoints.TCP4ServerEndpoint
            )
            endpoint_type(reactor, host_and_port.port, interface=host_and_port.host).listen(protocol_factory)
            log.debug("gateway listening on %s", host_and_port)

    TwistedRuntimeServer.register = register
