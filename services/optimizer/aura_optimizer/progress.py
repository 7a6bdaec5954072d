"""Progress over all trials of all folds, with an ETA: a tqdm bar on a terminal, plain lines otherwise.

Plain lines (``[OPTIMIZE_PROGRESS] done=… total=… pct=… elapsed_s=… eta_s=…``) come at every 10 % and at the
end, so a log file or ``docker logs`` stays readable. The clock is injected (``monotonic``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TextIO

from aura_common.adapters.logs import event

log = logging.getLogger("aura.optimize")


class Progress:
    def __init__(self, total: int, done: int, monotonic: Callable[[], float], stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.total, self.done = total, done
        self._start_done = done
        self._clock = monotonic
        self._t0 = monotonic()
        stream = stream or sys.stderr
        self._bar = None
        if tty if tty is not None else stream.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total, initial=done, unit="trial", file=stream, dynamic_ncols=True,
                             desc="walk-forward")
        self._next_pct = (done * 100 // total // 10 + 1) * 10 if total else 100

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        if self._bar is not None:
            self._bar.update(n)
            return
        pct = self.done * 100 // self.total if self.total else 100
        if pct >= self._next_pct:
            self._line()
            self._next_pct = (pct // 10 + 1) * 10

    def eta_s(self) -> float | None:
        ran = self.done - self._start_done
        if ran <= 0:
            return None
        return (self._clock() - self._t0) / ran * (self.total - self.done)

    def _line(self) -> None:
        eta = self.eta_s()
        event(log, "OPTIMIZE_PROGRESS", done=self.done, total=self.total,
              pct=self.done * 100 // self.total if self.total else 100,
              elapsed_s=round(self._clock() - self._t0, 1), eta_s="-" if eta is None else round(eta, 1))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
