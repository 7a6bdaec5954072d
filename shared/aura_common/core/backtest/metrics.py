"""Performance metrics of a daily equity curve (365 trading days a year: crypto never closes).

- total_return = last / first - 1;  cagr = (last / first) ** (365 / days) - 1
- volatility = std(daily returns) * sqrt(365);  sharpe = mean / std * sqrt(365) (risk-free 0)
- sortino = mean / downside deviation * sqrt(365), downside deviation = sqrt(mean(min(r, 0)^2))
- max_drawdown = the largest fall from a running peak (a positive fraction); calmar = cagr / max_drawdown
- turnover = traded notional / mean equity (how many times the book was traded), turnover_annual per year
- exposure = the mean fraction of equity invested at the daily marks; trades = number of fills
Undefined ratios (no variance, no drawdown) are 0.0 so that the output is always plain JSON numbers.
"""

from __future__ import annotations

import math

import numpy as np

PERIODS_PER_YEAR = 365


def max_drawdown(equity: np.ndarray) -> float:
    if len(equity) == 0:
        return 0.0
    peak = np.maximum.accumulate(equity)
    return float(np.max((peak - equity) / peak))


def drawdown_series(equity: np.ndarray) -> np.ndarray:
    peak = np.maximum.accumulate(equity)
    return equity / peak - 1.0


def compute_metrics(equity: np.ndarray, exposure: np.ndarray, traded_notional: float,
                    n_trades: int) -> dict[str, float]:
    equity = np.asarray(equity, dtype=np.float64)
    n = len(equity)
    out = dict.fromkeys(("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
                         "turnover", "turnover_annual", "exposure"), 0.0)
    out["trades"] = float(n_trades)
    out["days"] = float(n)
    out["final_equity"] = float(equity[-1]) if n else 0.0
    if n < 2 or equity[0] <= 0:
        return out
    years = (n - 1) / PERIODS_PER_YEAR
    growth = equity[-1] / equity[0]
    r = equity[1:] / equity[:-1] - 1.0
    mean, std = float(r.mean()), float(r.std())
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    mdd = max_drawdown(equity)
    out["total_return"] = float(growth - 1.0)
    out["cagr"] = float(growth ** (1.0 / years) - 1.0) if growth > 0 else -1.0
    out["volatility"] = std * math.sqrt(PERIODS_PER_YEAR)
    out["sharpe"] = mean / std * math.sqrt(PERIODS_PER_YEAR) if std > 0 else 0.0
    out["sortino"] = mean / downside * math.sqrt(PERIODS_PER_YEAR) if downside > 0 else 0.0
    out["max_drawdown"] = mdd
    out["calmar"] = out["cagr"] / mdd if mdd > 0 else 0.0
    mean_eq = float(equity.mean())
    out["turnover"] = traded_notional / mean_eq if mean_eq > 0 else 0.0
    out["turnover_annual"] = out["turnover"] / years
    out["exposure"] = float(np.mean(exposure)) if len(exposure) else 0.0
    return out


def monthly_returns(times_ms: np.ndarray, equity: np.ndarray) -> list[tuple[int, int, float]]:
    """(year, month, return) of each calendar month (UTC) the curve touches: the month's last mark against the
    previous month's last mark (the first month against the curve's first mark)."""
    t = np.asarray(times_ms, dtype=np.int64)
    e = np.asarray(equity, dtype=np.float64)
    if len(t) == 0:
        return []
    days = t // 86_400_000
    # civil-from-days (Howard Hinnant's algorithm): calendar month without a clock or a date library
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    key = year * 12 + month - 1
    out: list[tuple[int, int, float]] = []
    prev = float(e[0])
    ends = np.flatnonzero(np.diff(key)).tolist() + [len(key) - 1]
    for i in ends:
        last = float(e[i])
        out.append((int(year[i]), int(month[i]), last / prev - 1.0 if prev > 0 else 0.0))
        prev = last
    return out
