"""The trader's health (issue 18: healthy means working): the verdict of ``TraderHealth`` in every state, the state
file ``aura status`` reads, and ``GET /health`` beside ``/metrics`` on a real HTTP server."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry

from aura_common.adapters.health_http import serve
from aura_trader.health import STATE_FILE, TraderHealth, read_state
from harness.processes import http_get


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def running(tmp_path) -> tuple[TraderHealth, Mono]:
    mono = Mono()
    h = TraderHealth(tmp_path, monotonic=mono, wall=lambda: 1_800_000_000.0)
    h.running()
    h.tick_done("")
    return h, mono


@pytest.mark.parametrize("make_unhealthy, reason_part", [
    (lambda h, m: h.start_failed("journal locked"), "cannot start: journal locked"),
    (lambda h, m: h.starting(), "starting"),
    (lambda h, m: setattr(h, "held_back", lambda: (118.0, "HTTP 418 on GET /api/v3/account")), "venue back-off"),
    (lambda h, m: h.tick_failed("ReconcileError: GET /api/v3/account failed 5 times"), "last tick failed"),
    (lambda h, m: h.clock_read("TransientError: connection refused"), "venue clock unreadable"),
    (lambda h, m: h.tick_done("TransientError: connection refused"), "account read failed"),
    (lambda h, m: setattr(m, "t", m.t + h.max_tick_age_s + 1), "no tick completed"),
])
def test_each_failure_makes_it_unhealthy_with_the_reason(tmp_path, make_unhealthy, reason_part):
    h, mono = running(tmp_path)
    assert h.check()[0] is True
    make_unhealthy(h, mono)
    ok, reason = h.check()
    assert ok is False and reason_part in reason


def test_a_completed_tick_with_every_read_answered_makes_it_healthy_again(tmp_path):
    h, mono = running(tmp_path)
    h.tick_failed("TransientError: reset")
    h.clock_read("TransientError: reset")
    assert h.check()[0] is False
    h.clock_read("")
    h.tick_done("")
    assert h.check()[0] is True


def test_the_state_file_follows_the_verdict(tmp_path):
    h, mono = running(tmp_path)
    assert read_state(tmp_path)["healthy"] is True
    h.start_failed("loading markets for the paper broker failed 5 times")
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["healthy"] is False and "loading markets" in state["reason"] and state["phase"] == "start_failed"


def test_health_endpoint_answers_beside_the_metrics(tmp_path):
    from harness.processes import free_port

    verdict = {"v": (True, "last tick 1 s ago")}
    port = free_port()
    server = serve(CollectorRegistry(), "127.0.0.1", port, lambda: verdict["v"])
    try:
        assert http_get(f"http://127.0.0.1:{port}/health") == (200, "ok: last tick 1 s ago\n")
        verdict["v"] = (False, "venue back-off: 100 s left")
        status, body = http_get(f"http://127.0.0.1:{port}/health")
        assert status == 503 and body == "unhealthy: venue back-off: 100 s left\n"
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200  # the registry, served as before
    finally:
        server.shutdown()


def test_the_venue_clock_reads_at_most_once_a_second_and_keeps_its_last_error():
    from aura_trader.venue_clock import VenueClock

    mono, calls, down = Mono(), [], {"v": False}

    def fetch() -> int:
        calls.append(mono.t)
        if down["v"]:
            raise ConnectionError("exchange-sim: name not known")
        return 1_700_000_000_000 + int(mono.t * 2_880_000)  # an accelerated venue (2880x)

    clock = VenueClock(fetch, monotonic=mono)
    for _ in range(60):  # a loop asking every 20 ms for 1.2 s: one more read
        mono.t += 0.02
        clock.refresh()
    assert len(calls) == 2  # the first read at construction, one more after a second
    down["v"] = True
    mono.t += 1.0
    with pytest.raises(ConnectionError):
        clock.refresh()
    mono.t += 0.5
    clock.refresh()  # answered from the last read: no request, and the error stays known
    assert len(calls) == 3 and "name not known" in clock.last_error
    down["v"] = False
    mono.t += 1.0
    clock.refresh()
    assert clock.last_error == ""


def test_reasons_carry_no_query_strings(tmp_path):
    h, _ = running(tmp_path)
    h.tick_done("TransientError: GET http://exchange-sim:8700/api/v3/account?timestamp=1&signature=abc failed")
    ok, reason = h.check()
    assert not ok and "signature" not in reason and "/api/v3/account" in reason


def test_the_state_file_is_private(tmp_path):
    running(tmp_path / "snapshots")
    assert (tmp_path / "snapshots").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "snapshots" / STATE_FILE).stat().st_mode & 0o777 == 0o600
