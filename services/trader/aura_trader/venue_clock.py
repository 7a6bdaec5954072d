"""A clock that follows the venue's server time (GET /api/v3/time), for trading against the exchange simulator
whose clock may be accelerated or stepped, so that the rebalance schedule runs on simulated days.

``refresh()`` (once per tick, and while the loop waits) reads the server time, at most once per
``min_refresh_wall_s`` of WALL time (1 s): a call sooner answers from the last read, so however fast the simulator's
clock runs, the clock never polls the venue more than once a second (at 2880x a loop that refreshed on every
venue second polled every 50 ms and got the client banned, issue 18). Between refreshes time stands still, unless the last two
intervals between refreshes BOTH showed the venue clock moving (an accelerated or real-time venue, not a stepped
simulator that was jumped once); then it moves on at real speed at most (never faster, so a restarted process
never starts before what this one journaled), and it never goes backwards. ``sleep(s)`` waits ``s`` venue seconds at the rate observed between the last two reads,
i.e. ``s / rate`` wall seconds, between ``min_wall_sleep_s`` and ``max_wall_sleep_s`` (real time when the venue
clock stands still, as a stepped simulator's does), so an accelerated simulator's days pass quickly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class VenueClock:
    def __init__(self, fetch_server_ms: Callable[[], int], max_wall_sleep_s: float = 60.0,
                 min_wall_sleep_s: float = 0.05, min_refresh_wall_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic, wall_sleep: Callable[[float], None] = time.sleep
                 ) -> None:
        self._fetch = fetch_server_ms
        self._mono = monotonic
        self._wall_sleep = wall_sleep
        self._max, self._min = max_wall_sleep_s, min_wall_sleep_s
        self._min_refresh = min_refresh_wall_s
        self._last = 0
        self._lock = threading.Lock()
        self._rate = 0.0
        self._moving = 0  # consecutive refresh intervals in which the venue clock moved
        self._base_ms = int(fetch_server_ms())
        self._base_mono = monotonic()
        self._fetched_mono = self._base_mono
        self.last_error = ""  # why the latest read failed ("" when it answered); answers from the last read keep it

    @property
    def rate(self) -> float:
        return self._rate

    def refresh(self) -> int:
        if self._mono() - self._fetched_mono < self._min_refresh:
            return self.now_ms()  # read less than min_refresh_wall_s ago: no request
        self._fetched_mono = self._mono()  # a failed read counts too: an outage is not polled faster
        try:
            server = int(self._fetch())
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {str(exc)[:160]}"
            raise
        self.last_error = ""
        mono = self._mono()
        with self._lock:
            elapsed = mono - self._base_mono
            if elapsed > 0.05:
                self._rate = max(0.0, (server - self._base_ms) / 1000.0 / elapsed)
                self._moving = self._moving + 1 if server > self._base_ms else 0
            self._base_ms, self._base_mono = server, mono
            self._last = max(self._last, server)
            return self._last

    def now_ms(self) -> int:
        with self._lock:
            speed = min(1.0, self._rate) if self._moving >= 2 else 0.0
            now = self._base_ms + int((self._mono() - self._base_mono) * 1000 * speed)
            self._last = max(self._last, now)
            return self._last

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        rate = self._rate
        wall = seconds / rate if rate > 0 else seconds
        self._wall_sleep(max(self._min, min(wall, self._max)))
