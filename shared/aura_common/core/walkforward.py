"""Walk-forward windows and the stitching of out-of-sample segments (pure: rows in, rows out).

Rows are candle indices of a panel (days for the daily panel). A fold trains on ``[train_lo, train_hi)`` and is
tested on the rows right after it, ``[test_lo, test_hi)`` with ``test_lo == train_hi``: no test row is ever in
its own training window.

- **rolling**: every training window has ``train`` rows and slides by ``step``;
- **anchored**: every training window starts at ``start`` and grows by ``step``.

The first test window starts at ``start + train``; a fold exists only when its whole test window fits in the
data. ``step`` may not exceed ``test`` (that would leave untested gaps between folds). When ``step < test``
the test windows overlap; the stitched out-of-sample curve then takes from each fold only the rows up to the
next fold's test start, ``[test_lo, oos_hi)``, so its segments are contiguous, ordered and never overlap.
``max_folds`` keeps only the most recent folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Fold:
    index: int
    train_lo: int
    train_hi: int
    test_lo: int
    test_hi: int
    oos_hi: int  # end (exclusive) of this fold's share of the stitched out-of-sample curve

    @property
    def oos_rows(self) -> int:
        return self.oos_hi - self.test_lo


def split_folds(n_rows: int, start: int, train: int, test: int, step: int, anchored: bool = False,
                max_folds: int | None = None) -> tuple[Fold, ...]:
    """The walk-forward folds over rows ``[start, n_rows)``; empty when not even one fits."""
    if train < 1 or test < 1 or step < 1:
        raise ValueError("train, test and step must each be at least 1 row")
    if step > test:
        raise ValueError(f"step ({step}) must not exceed test ({test}): the folds would leave untested gaps")
    if start < 0 or n_rows < 0:
        raise ValueError("start and n_rows must be >= 0")
    if max_folds is not None and max_folds < 1:
        raise ValueError("max_folds must be at least 1")
    spans = []
    test_lo = start + train
    while test_lo + test <= n_rows:
        spans.append((start if anchored else test_lo - train, test_lo, test_lo + test))
        test_lo += step
    if max_folds is not None:
        spans = spans[-max_folds:]
    folds = []
    for k, (train_lo, lo, hi) in enumerate(spans):
        oos_hi = min(hi, spans[k + 1][1]) if k + 1 < len(spans) else hi
        folds.append(Fold(k, train_lo, lo, lo, hi, oos_hi))
    return tuple(folds)


def required_rows(start: int, train: int, test: int) -> int:
    """Rows a panel needs for one fold."""
    return start + train + test


def stitch(segments: Sequence[npt.ArrayLike], bases: Sequence[float], start_value: float = 1.0) -> np.ndarray:
    """Chain equity segments into one curve.

    Segment ``k`` started with capital ``bases[k]``; it is rescaled so that it starts from where the curve
    stood at the end of segment ``k - 1`` (``start_value`` for the first). So the stitched growth is the
    product of the segments' growths, and each segment keeps its own daily returns.
    """
    if len(segments) != len(bases):
        raise ValueError("one base per segment")
    out: list[np.ndarray] = []
    level = float(start_value)
    for seg, base in zip(segments, bases):
        arr = np.asarray(seg, dtype=np.float64)
        if base <= 0:
            raise ValueError("segment bases must be > 0")
        if len(arr) == 0:
            continue
        scaled = arr * (level / float(base))
        out.append(scaled)
        level = float(scaled[-1])
    return np.concatenate(out) if out else np.empty(0)
