"""The HTTP layer: a threaded HTTP/1.1 keep-alive server, request parsing, fault stages, weights, signing.

Flow of an API request: route lookup (unknown path -> 404 HTML) -> pre-stage faults (latency, reset, 5xx, 429,
-1021) -> request weight (429/418) -> signature checks for signed routes -> arrival delay (then the timestamp is
checked again at processing time: -1021 past timestamp + recvWindow) -> the route (engine under its lock) ->
post-stage faults (drop the response after the order was booked, reset, 5xx after processing) -> JSON response
with ``X-MBX-USED-WEIGHT-1M`` (and the unfilled-order counts on order answers, ``ordercount``). ``/health`` and
``/admin/*`` bypass faults, weights and signing.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aura_common.adapters.logs import event
from aura_exchange_sim import admin, auth, errors
from aura_exchange_sim.routes import ROUTES, Request

if TYPE_CHECKING:  # pragma: no cover
    from aura_exchange_sim.app import Simulator

log = logging.getLogger("aura_exchange_sim.server")
NOT_FOUND = b"<html><body><h2>404 Not found</h2></body></html>"
ERROR_HTML = b"<html><body><h2>%d Server Error</h2></body></html>"


class _Dropped(Exception):
    """The response must never be sent (a fault)."""


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aura-exchange-sim"
    sys_version = ""
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        # keep-alive request/response pairs must not wait for Nagle + delayed ACK (~40 ms per round trip)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    # ---- plumbing --------------------------------------------------------------------------------------------
    def send_bytes(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
                   ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        # headers and body in ONE write (end_headers would flush the headers alone)
        self._headers_buffer.append(b"\r\n" + payload)  # type: ignore[attr-defined]  # http.server's buffer
        self.flush_headers()

    def send_json(self, status: int, obj, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json;charset=UTF-8",
                        headers)

    def _reset(self) -> None:
        """Close with a TCP RST and no response."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True
        raise _Dropped()

    def _drop(self, hold_ms: int, mode: str) -> None:
        if mode == "hold" and hold_ms > 0:
            time.sleep(hold_ms / 1000)
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True
        raise _Dropped()

    def _handle(self, method: str) -> None:
        try:
            self._dispatch(method)
        except _Dropped:
            return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a simulator bug: answer like Binance's internal error, keep serving, say why
            event(log, "SIM_ERROR", level=logging.ERROR, method=method, path=self.path.partition("?")[0],
                  error=f"{type(exc).__name__}: {exc}")
            log.debug("simulator error", exc_info=True)
            try:
                self.send_json(500, {"code": -1001, "msg": "Internal error; unable to process your request. "
                                     "Please try again."})
            except OSError:
                self.close_connection = True

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if path == "/health" or path.startswith("/admin/") or path == "/admin":
            denied = None if path == "/health" else admin.authorize(sim, self.headers.get("Authorization"))
            status, obj = denied or admin.handle(sim, method, path, query, body)
            self.send_json(status, obj)
            return
        route = ROUTES.get((method, path))
        if route is None:
            self.send_bytes(404, NOT_FOUND, "text/html")
            return
        fn, weight, signed = route
        params = dict(parse_qsl(body, keep_blank_values=True)) if body else {}
        if query:
            params.update(parse_qsl(query, keep_blank_values=True))
        ip = self.client_address[0]
        wall = sim.clock.wall_ms()
        req = Request(method, path, query, body, params, self.headers.get("X-MBX-APIKEY"), ip, wall)
        headers: dict[str, str] = {}
        try:
            for rule in sim.faults.take("pre", method, path, req.symbol, wall):
                if rule.kind == "latency":
                    time.sleep(rule.delay_ms / 1000)
                    wall = req.wall = sim.clock.wall_ms()  # the request is processed late: later checks see it
                elif rule.kind == "reset":
                    self._reset()
                elif rule.kind == "http_error":
                    self._send_error_fault(rule)
                    return
                elif rule.kind == "rate_limit":
                    raise sim.limiter.penalize(ip, rule.retry_after_s, wall)
                elif rule.kind == "timestamp":
                    raise errors.timestamp_outside()
            headers["X-MBX-USED-WEIGHT-1M"] = str(sim.limiter.charge(ip, weight(req), wall))
            req.now = sim.clock.now_ms()
            if signed:
                auth.verify(query, body, params, req.api_key, sim.keys, (wall, req.now))
            late = sim.faults.take("arrival", method, path, req.symbol, wall)
            if late:  # received and checked; it reaches the engine later, whether the client still waits or not
                time.sleep(sum(r.delay_ms for r in late) / 1000)
                wall = req.wall = sim.clock.wall_ms()
                req.now = sim.clock.now_ms()
                if signed:  # Binance checks timestamp + recvWindow again before forwarding to the engine
                    auth.check_timestamp(params, (wall, req.now))
            status, obj = 200, fn(sim, req)
            headers.update(req.headers)
        except errors.ApiError as exc:
            status, obj = exc.status, exc.body()
            headers.update(exc.headers)
            if "X-MBX-USED-WEIGHT-1M" not in headers:
                headers["X-MBX-USED-WEIGHT-1M"] = str(sim.limiter.used(ip, wall))
        sim.persist()  # before answering (also fills found by a lazy match on a GET, and rejections)
        for rule in sim.faults.take("post", method, path, req.symbol, wall):
            if rule.kind == "drop_after_accept":
                self._drop(rule.hold_ms, rule.mode)
            elif rule.kind == "reset":
                self._reset()
            elif rule.kind == "http_error":
                self._send_error_fault(rule)
                return
        self.send_json(status, obj, headers)

    def _send_error_fault(self, rule) -> None:
        if rule.body == "timeout":
            self.send_json(rule.status, {"code": -1007, "msg": "Timeout waiting for response from backend server. "
                                         "Send status unknown; execution status unknown."})
        elif rule.body == "json":
            self.send_json(rule.status, {"code": -1001, "msg": "Internal error; unable to process your request. "
                                         "Please try again."})
        else:
            self.send_bytes(rule.status, ERROR_HTML % rule.status, "text/html")
