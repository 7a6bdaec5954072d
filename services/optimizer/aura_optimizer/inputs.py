"""The optimizer's inputs, both read-only: the Parquet candle cache and the latest journal snapshot COPY.

- ``load_market(data_dir, ...)``: the daily panel of every cached symbol (``parquet_store.load_panel``), trailing
  rows without a single candle dropped, with a fingerprint so that a resumed or joined run can prove it sees
  the same data.
- ``calibrate_costs(snapshots_dir, ...)``: the backtester's fee and slippage from the trader's realised fills
  (``JournalReader.realised_costs``: fees against traded notional, fill prices against each intent's reference
  price). Never the live journal: only ``<snapshots_dir>/latest.sqlite``, opened read-only and checked. With no
  snapshot yet, or fewer than ``MIN_FILLS`` fills, the config's ``execution.fee_bps`` / ``slippage_bps`` are used
  and the report says so. A corrupt or foreign snapshot is an error (corrupt data is worse than none).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from aura_common.adapters.journal import JournalReader, SnapshotError, SnapshotMissingError, latest_snapshot
from aura_common.adapters.parquet_store import CacheReadError, cached_symbols, interval_dir, load_panel
from aura_common.core.panel import Panel

MIN_FILLS = 10


class InputError(RuntimeError):
    """The inputs cannot support a run (empty cache, too little history, corrupt file); one-line message."""


@dataclass(frozen=True)
class CostCalibration:
    fee_bps: float
    slippage_bps: float
    source: str  # "journal" or "config"
    detail: str
    fills: int = 0
    snapshot: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def fingerprint(panel: Panel) -> str:
    h = hashlib.sha256()
    h.update(",".join(panel.symbols).encode())
    h.update(np.ascontiguousarray(panel.times).tobytes())
    for arr in (panel.close, panel.quote_volume):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def load_market(data_dir: str | os.PathLike[str], symbols: tuple[str, ...] | None = None,
                end_ms: int | None = None) -> Panel:
    """The daily panel from the cache; ``InputError`` for an empty cache or an unreadable file."""
    available = cached_symbols(data_dir, "1d")
    if not available:
        raise InputError(f"empty candle cache: no daily candles under {interval_dir(data_dir, '1d')} "
                         "(run `aura ingest --once` first)")
    wanted = available if symbols is None else symbols
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise InputError(f"the candle cache {data_dir} no longer holds {', '.join(missing)}")
    try:
        panel = load_panel(data_dir, "1d", wanted, None, end_ms)
    except CacheReadError as exc:
        raise InputError(str(exc)) from None
    have = np.flatnonzero(~np.all(np.isnan(panel.close), axis=1))
    panel = panel.rows(0, int(have[-1]) + 1 if len(have) else 0)
    if panel.shape[0] == 0:
        raise InputError(f"empty candle cache: the daily files under {interval_dir(data_dir, '1d')} hold no rows")
    return panel


def load_fixtures(root: str | os.PathLike[str], symbols: tuple[str, ...] | None = None,
                  end_ms: int | None = None) -> Panel:
    """The daily panel from gzipped-JSON candles (``<root>/1d/<BASE>_USDT-1d.json.gz``, the ../shared/data
    layout) of ``symbols`` (None: every file); ``InputError`` naming the directory or the file otherwise."""
    from aura_common.adapters.json_candles import FixtureError, json_symbol_files, load_json_panel
    available = json_symbol_files(Path(root), "1d")
    if not available:
        raise InputError(f"--fixtures {root}: no daily candle files (1d/*_USDT-1d.json.gz)")
    wanted = sorted(available) if symbols is None else sorted(s for s in symbols if s in available)
    if not wanted:
        raise InputError(f"--fixtures {root}: none of {', '.join(symbols or ())} has a daily candle file")
    try:
        panel = load_json_panel(Path(root), "1d", wanted, None, end_ms)
    except FixtureError as exc:
        raise InputError(str(exc)) from None
    have = np.flatnonzero(~np.all(np.isnan(panel.close), axis=1))
    return panel.rows(0, int(have[-1]) + 1 if len(have) else 0)


def calibrate_costs(snapshots_dir: str | os.PathLike[str], journal_path: str | os.PathLike[str],
                    fee_bps: float, slippage_bps: float, quote_asset: str = "USDT") -> CostCalibration:
    """Realised fee and slippage (bps) from the latest snapshot copy; the config's values without history."""
    try:
        path = latest_snapshot(snapshots_dir)
    except SnapshotMissingError:
        return CostCalibration(fee_bps, slippage_bps, "config", f"no journal snapshot in {snapshots_dir}")
    live = Path(journal_path)
    if live.exists() and path.resolve() == live.resolve():
        raise InputError(f"{path} is the live journal, not a snapshot copy: the optimizer never opens it")
    with JournalReader.open(path) as reader:
        costs = reader.realised_costs()
    fills = sum(c.fills for c in costs)
    if fills < MIN_FILLS:
        return CostCalibration(fee_bps, slippage_bps, "config",
                               f"{fills} fill(s) in {path} (fewer than {MIN_FILLS})", fills, str(path))
    fee_quote, fee_base = Decimal(0), Decimal(0)
    slip, slip_base = Decimal(0), Decimal(0)
    for c in costs:
        # fees in the quote or the base (at the fill price) count; a symbol with fees in a third asset (BNB) has no
        # price for them here and is left out of the fee rate
        if c.fees_in_quote is not None and c.symbol.endswith(quote_asset):
            fee_quote += c.fees_in_quote
            fee_base += c.traded_quote
        slip += c.slippage_quote
        slip_base += c.slippage_base_quote
    fee = float(fee_quote / fee_base * 10_000) if fee_base > 0 else fee_bps
    # price improvement on average is not a cost model: floor at 0 (the backtester's costs are >= 0)
    slippage = max(0.0, float(slip / slip_base * 10_000)) if slip_base > 0 else slippage_bps
    detail = (f"{fills} fills in {path}: fee {fee:.2f} bps"
              + ("" if fee_base > 0 else f" (no {quote_asset} fees: config)")
              + f", slippage {slippage:.2f} bps" + ("" if slip_base > 0 else " (no reference prices: config)"))
    return CostCalibration(round(fee, 4), round(slippage, 4), "journal", detail, fills, str(path))


__all__ = ["CostCalibration", "InputError", "SnapshotError", "calibrate_costs", "fingerprint", "load_fixtures",
           "load_market"]
