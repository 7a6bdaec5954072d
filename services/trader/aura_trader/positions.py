"""Positions with their entry prices, from the venue's balances, the journal's fills and the last snapshot.

The quantity is what the venue holds (total base balance of a managed symbol). The entry price comes from the
latest position snapshot when that snapshot's quantity still matches the lot rebuilt from the fills (within one
lot step), else from the fills' average cost (``core.reconcile.open_lots``), else it is unknown (``none``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from aura_common.adapters.journal import Position
from aura_common.core.reconcile import Lot, open_lots
from aura_common.domain import Balance, Fill, MarketSpec, Symbol

from aura_trader.ports import PositionsJournal


@dataclass(frozen=True)
class HeldPosition:
    position: Position
    source: str  # snapshot | fills | none


def journal_fills(journal: PositionsJournal, base_of: Mapping[str, str]) -> list[Fill]:
    """The journal's fills of the symbols in ``base_of`` as domain ``Fill``s (what the core's lot rules take)."""
    return [Fill(f.trade_id, Symbol(f.symbol), f.side, f.qty, f.price, f.fee, f.fee_asset, f.venue_ms)
            for f in journal.fills() if f.symbol in base_of]


def journal_lots(journal: PositionsJournal, specs: Mapping[Symbol, MarketSpec]) -> dict[str, Lot]:
    base_of: dict[str, str] = {s: spec.base_asset for s, spec in specs.items()}
    return open_lots(journal_fills(journal, base_of), base_of)


def held_positions(journal: PositionsJournal, balances: Mapping[str, Balance], specs: Mapping[Symbol, MarketSpec],
                   managed: Iterable[str], prices: Mapping[Symbol, Decimal] | None = None,
                   lots: Mapping[str, Lot] | None = None) -> list[HeldPosition]:
    lots = journal_lots(journal, specs) if lots is None else lots
    snap = journal.latest_positions()
    snapped = {p.symbol: p for p in snap.positions} if snap else {}
    out = []
    for symbol in sorted(set(managed) & set(specs)):
        spec = specs[Symbol(symbol)]
        bal = balances.get(spec.base_asset)
        qty = bal.total if bal else Decimal(0)
        price = (prices or {}).get(Symbol(symbol))
        if qty <= 0 or (price is not None and spec.is_dust(qty, price)):
            continue  # nothing, or a leftover too small to sell: not a position
        lot, old = lots.get(symbol), snapped.get(symbol)
        if old is not None and old.entry_price and (lot is None or abs(old.qty - lot.qty) <= spec.step_size):
            entry, source = old.entry_price, "snapshot"
        elif lot is not None and lot.entry_price:
            entry, source = lot.entry_price, "fills"
        else:
            entry, source = None, "none"
        out.append(HeldPosition(Position(symbol, qty, entry, price), source))
    return out
