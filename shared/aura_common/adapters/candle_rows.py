"""The readers' side of the one candle rule (``core.candles.row_reasons``): the wording of a refused file.

Every reader of candles — the Parquet cache (``parquet_store``), the JSON fixtures (``json_candles``) and through
them the trader, the backtester, the optimizer and the exchange simulator's replay — refuses a file holding one row
the ingestor would not have written, and names file, row and reason in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from aura_common.core.candles import first_invalid_row

_DATETIME_MAX_MS = 253_402_300_800_000  # 10000-01-01: beyond, an open time is shown in ms


def invalid_rows_message(path: str | Path, row: int, rows: int, reason: str, open_time_ms: int) -> str:
    """``invalid candle file <file>: row <i> of <n> (open time <ISO or ms>): <reason>`` (rows counted from 1)."""
    when = f"{open_time_ms} ms"
    if 0 <= open_time_ms < _DATETIME_MAX_MS:
        when = str(np.datetime64(int(open_time_ms), "ms").astype("datetime64[s]")) + "Z"
    return f"invalid candle file {path}: row {row + 1} of {rows} (open time {when}): {reason}"


def refusal(path: str | Path, interval_ms: int, cols: Mapping[str, np.ndarray]) -> str | None:
    """The one-line refusal of ``cols`` (``open_time`` plus any of open/high/low/close/volume/quote_volume) read
    from ``path``, or None when every row is sane."""
    t = cols["open_time"]
    values = {k: v for k, v in cols.items() if k in ("open", "high", "low", "close", "volume", "quote_volume")}
    bad = first_invalid_row(t, interval_ms, **values)
    return None if bad is None else invalid_rows_message(path, bad[0], len(t), bad[1], int(t[bad[0]]))
