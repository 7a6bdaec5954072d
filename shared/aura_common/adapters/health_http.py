"""The metrics port of a service, with ``GET /health`` beside ``/metrics``.

``serve(registry, bind, port, health)`` starts prometheus_client's handler on a daemon thread (as
``start_http_server`` does) and answers ``/health`` from ``health()``: ``(True, reason)`` → 200, ``(False, reason)``
→ 503, the body one line ``ok: <reason>`` / ``unhealthy: <reason>``. The container's probe (compose's
``healthcheck``) GETs it, so "healthy" means working, not merely "the process answers". ``health`` is called on the
server's thread: it must only read plain values.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import MetricsHandler

Health = Callable[[], tuple[bool, str]]


def handler_class(registry: CollectorRegistry, health: Health) -> type[MetricsHandler]:
    base = MetricsHandler.factory(registry)

    class Handler(base):  # type: ignore[valid-type,misc]
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path.split("?")[0].rstrip("/") != "/health":
                return super().do_GET()
            try:
                ok, reason = health()
            except Exception as exc:  # noqa: BLE001 - a probe that cannot judge says so
                ok, reason = False, f"health check failed: {type(exc).__name__}"
            body = f"{'ok' if ok else 'unhealthy'}: {reason}\n".encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silent, like prometheus_client
            return None

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(registry: CollectorRegistry, bind: str, port: int, health: Health) -> ThreadingHTTPServer:
    """Serve ``/metrics`` (any other path, as prometheus_client does) and ``/health`` on ``bind:port``."""
    server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in bind else _Server
    server = server_class((bind, port), handler_class(registry, health))
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server


__all__ = ["Health", "handler_class", "serve"]
