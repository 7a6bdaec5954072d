"""The ledger: every order, fill, status change and balance change, append-only, and the balances it implies.

Balances are changed ONLY through ``Book.move``, which appends a ``balance`` entry with the free/locked deltas;
so for every asset ``free == sum(free deltas)`` and ``locked == sum(locked deltas)`` at all times, and a move that
would make either negative is refused (an internal invariant violation, never silently clamped). Amounts live on
the 1e-8 grid (Binance's 8 decimals), so the account endpoint prints them exactly.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

Q8 = Decimal("0.00000001")
ZERO = Decimal(0)


class InvariantError(RuntimeError):
    """The simulator's own books would break (a bug, never a client error)."""


def q8(d: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    return d.quantize(Q8, rounding=rounding)


def dstr(d: Decimal) -> str:
    return format(d, "f")


class Book:
    def __init__(self) -> None:
        self.free: dict[str, Decimal] = {}
        self.locked: dict[str, Decimal] = {}
        self.entries: list[dict] = []

    def append(self, kind: str, time_ms: int, **fields) -> dict:
        entry = {"seq": len(self.entries) + 1, "time": time_ms, "kind": kind, **fields}
        self.entries.append(entry)
        return entry

    def move(self, asset: str, d_free: Decimal, d_locked: Decimal, reason: str, time_ms: int,
             order_id: int | None = None) -> None:
        if d_free == 0 and d_locked == 0:
            return
        if d_free != q8(d_free) or d_locked != q8(d_locked):
            raise InvariantError(f"balance move off the 1e-8 grid: {asset} {d_free} {d_locked} ({reason})")
        free = self.free.get(asset, ZERO) + d_free
        locked = self.locked.get(asset, ZERO) + d_locked
        if free < 0 or locked < 0:
            raise InvariantError(f"balance of {asset} would go negative: free={free} locked={locked} "
                                 f"({reason}, order {order_id})")
        self.free[asset], self.locked[asset] = free, locked
        self.append("balance", time_ms, asset=asset, free=dstr(d_free), locked=dstr(d_locked), reason=reason,
                    order_id=order_id)

    def available(self, asset: str) -> Decimal:
        return self.free.get(asset, ZERO)

    def assets(self) -> list[str]:
        return sorted(set(self.free) | set(self.locked))

    def since(self, seq: int = 0, limit: int | None = None) -> list[dict]:
        out = self.entries[seq:]
        return out if limit is None else out[:limit]
