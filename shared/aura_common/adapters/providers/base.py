"""The Provider port and what a fetch returns.

A provider is asked for one symbol, one interval and one half-open range of open times ``[start_ms, end_ms)``
(``now_ms`` given, never read). It returns what it found as ``Batch``es (one per file or response, named by
``origin`` so that a rejection log line can point at it) plus the errors it met on the way. A failure on one file
does not lose the others: the range it should have covered simply stays missing and is passed on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aura_common.core.candles import Candles
from aura_common.domain import Interval

# ProviderError.kind values (the ``kind`` label of aura_provider_errors_total)
KINDS = ("timeout", "connection", "rate_limited", "http_error", "bad_response", "bad_archive", "checksum")


class ProviderError(Exception):
    """A provider could not deliver (part of) a range. ``kind`` is one of ``KINDS``; the message names the URL."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind if kind in KINDS else "bad_response"


@dataclass(frozen=True)
class Batch:
    origin: str  # the file name or request URL the rows came from
    candles: Candles
    parse_rejects: dict[str, int] = field(default_factory=dict)  # rows refused while parsing, by reason


@dataclass
class FetchResult:
    batches: list[Batch] = field(default_factory=list)
    errors: list[ProviderError] = field(default_factory=list)
    requests: int = 0


# called after every HTTP request a provider makes: (provider name, seconds, ok)
RequestObserver = Callable[[str, float, bool], None]


def no_observer(provider: str, seconds: float, ok: bool) -> None:
    return None


class Provider(Protocol):
    name: str  # "archive" | "exchange:<ccxt id>" | "coingecko": the ``provider`` metric label and the row source

    def supports(self, symbol: str, interval: Interval) -> bool:
        """False when this provider can never serve the pair (e.g. CoinGecko without an id, or not daily)."""

    def fetch(self, symbol: str, interval: Interval, start_ms: int, end_ms: int, now_ms: int) -> FetchResult:
        """Candles with open time in ``[start_ms, end_ms)``, as found. Never raises for provider trouble."""


class Breaker:
    """Stops asking a provider that is clearly down for the rest of its life (one ingest pass: providers are built
    per pass). Opens after ``threshold`` consecutive transport failures (timeout, connection, 5xx), or at once when
    rate limiting outlasted the retries — a 429/418 storm must not be answered with more requests."""

    TRANSPORT = ("timeout", "connection", "http_error")

    def __init__(self, provider: str, threshold: int = 3) -> None:
        self.provider = provider
        self.threshold = threshold
        self.consecutive = 0
        self.open_kind: str | None = None
        self._lock = threading.Lock()

    def check(self, what: str) -> None:
        if self.open_kind is not None:
            raise ProviderError(self.open_kind, f"{what}: not asked, {self.provider} is {self.open_kind} "
                                                f"(breaker open for the rest of this pass)")

    def success(self) -> None:
        with self._lock:
            self.consecutive = 0

    def failure(self, kind: str) -> None:
        with self._lock:
            if kind == "rate_limited":
                self.open_kind = kind
            elif kind in self.TRANSPORT:
                self.consecutive += 1
                if self.consecutive >= self.threshold:
                    self.open_kind = kind
