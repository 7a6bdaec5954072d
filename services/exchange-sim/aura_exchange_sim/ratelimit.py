"""Request-weight accounting per client IP (spec §8.1): X-MBX-USED-WEIGHT-1M, 429 + Retry-After, then a 418 ban.

Weight is counted per wall-clock minute (like Binance's fixed 1-minute window). A request that would exceed the
limit gets HTTP 429 (-1003) with ``Retry-After`` = seconds to the next window. A client that ignores it — any
request before that moment — gets HTTP 418 and is banned for ``ban_seconds``; every request during the ban gets 418
again. A ``rate_limit`` fault puts a client into the same 429 state. ``limit == 0`` disables the weight limit
(penalties from faults still apply).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from aura_exchange_sim import errors


@dataclass
class _Ip:
    minute: int = -1
    used: int = 0
    retry_until_ms: int = 0
    banned_until_ms: int = 0


class RateLimiter:
    def __init__(self, limit: int = 6000, ban_seconds: int = 120) -> None:
        self.limit, self.ban_seconds = limit, ban_seconds
        self._ips: dict[str, _Ip] = {}
        self._lock = threading.Lock()

    def _state(self, ip: str, wall: int) -> _Ip:
        st = self._ips.get(ip)
        if st is None:
            st = self._ips[ip] = _Ip()
        minute = wall // 60_000
        if minute != st.minute:
            st.minute, st.used = minute, 0
        return st

    def _check_penalties(self, st: _Ip, wall: int) -> None:
        if wall < st.banned_until_ms:
            raise errors.banned(st.banned_until_ms, math.ceil((st.banned_until_ms - wall) / 1000))
        if wall < st.retry_until_ms:
            st.banned_until_ms = wall + self.ban_seconds * 1000
            st.retry_until_ms = 0
            raise errors.banned(st.banned_until_ms, self.ban_seconds)

    def charge(self, ip: str, weight: int, wall: int) -> int:
        """Count a request; return the used weight, or raise 429/418."""
        with self._lock:
            st = self._state(ip, wall)
            self._check_penalties(st, wall)
            st.used += weight
            if self.limit and st.used > self.limit:
                retry = max(1, math.ceil((60_000 - wall % 60_000) / 1000))
                st.retry_until_ms = wall + retry * 1000
                raise errors.too_much_weight(retry)
            return st.used

    def penalize(self, ip: str, retry_after_s: int, wall: int) -> errors.ApiError:
        """A forced 429 (fault): the client must now wait ``retry_after_s`` or be banned."""
        with self._lock:
            st = self._state(ip, wall)
            self._check_penalties(st, wall)
            st.retry_until_ms = wall + retry_after_s * 1000
            return errors.too_much_weight(retry_after_s)

    def used(self, ip: str, wall: int) -> int:
        with self._lock:
            return self._state(ip, wall).used

    def reset(self) -> None:
        with self._lock:
            self._ips.clear()
