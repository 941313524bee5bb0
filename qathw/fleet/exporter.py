"""Serve :class:`~qathw.fleet.metrics.QatCollector` over HTTP for Prometheus.

prometheus_client's own server (``start_http_server``) answers ``GET /metrics`` with the
text exposition format, each request in its own thread; the collector reads the host at
each request. :class:`Exporter` owns the server: it starts listening, reports the address
it got (port 0 picks a free one) and stops on request, as ``qathw exporter`` does on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from typing import TYPE_CHECKING

from qathw.errors import QatError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.registry import Collector

#: Our choice, in the 9100-9999 range Prometheus exporters use; loopback by default so
#: that exposing the host's inventory to the network is a decision (``--listen :PORT``).
DEFAULT_PORT = 9756
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"


class ListenError(QatError):
    """``--listen`` is not an address this host can listen on."""


def parse_listen(text: str) -> tuple[str, int]:
    """Split ``ADDR:PORT`` (``127.0.0.1:9756``, ``[::1]:9756``, ``:9756`` for every address).

    Args:
        text: the ``--listen`` value.

    Returns:
        The address (``0.0.0.0`` for an empty one) and the port (0 picks a free port).

    Raises:
        ValueError: not ``ADDR:PORT``, or a port outside 0-65535 (the message says which).
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"'{text}' is not ADDR:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"'{host}' in '{text}' is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"'{text}': write an IPv6 address in brackets, e.g. [::1]:{port}")
    number = int(port)
    if number > 65535:
        raise ValueError(f"port {number} in '{text}' is not 0-65535")
    return host or "0.0.0.0", number


def _listen_error(address: str, port: int, exc: OSError) -> ListenError:
    where = f"{address}:{port}" if ":" not in address else f"[{address}]:{port}"
    if exc.errno == errno.EADDRINUSE:
        hint = "another process listens there; pick another port with --listen"
    elif exc.errno == errno.EACCES:
        hint = "ports below 1024 need root; use a higher port"
    elif exc.errno == errno.EADDRNOTAVAIL:
        hint = "that address is not one of this host's; use 127.0.0.1, 0.0.0.0 or its own"
    else:
        hint = "check the address in --listen"
    return ListenError(
        f"cannot listen on {where}: {exc.strerror or exc}", hint=hint, errno=exc.errno
    )


class Exporter:
    """An HTTP server answering ``/metrics`` from ``collector``.

    Args:
        collector: what to collect at each scrape.
        address: the address to listen on.
        port: the port (0 for a free one).
    """

    def __init__(self, collector: Collector, address: str, port: int) -> None:
        # Imported here, not at the top: prometheus_client and http.server take seconds
        # to import on a slow machine, and the CLI imports this module for every command.
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._address = address
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Listen and serve in a background thread.

        Returns:
            The address and port listened on.

        Raises:
            ListenError: the address cannot be resolved or bound (in use, not ours,
                privileged port).
        """
        from prometheus_client import start_http_server

        try:
            server, thread = start_http_server(self._port, self._address, self.registry)
        except socket.gaierror as exc:
            raise ListenError(
                f"cannot listen on {self._address}:{self._port}: {exc.strerror}",
                hint="give --listen an IP address or a host name this machine resolves",
            ) from exc
        except OSError as exc:
            raise _listen_error(self._address, self._port, exc) from exc
        self._server, self._thread = server, thread
        host, port = server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        """Stop serving (a scrape in progress finishes) and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["DEFAULT_LISTEN", "DEFAULT_PORT", "Exporter", "ListenError", "parse_listen"]
