"""The backtester's day loop, compiled: book marking, gate screens, the plan step, orders and fills.

One kernel, ``run_days``, replays days ``lo..hi-1`` as ``engine.py`` describes. It calls the trader's own
compiled decision steps (``regime.advance_codes``, ``weights.pick_weights``, ``risk.benefit_bps``), so the
plan of every day is the trader's plan (``record_plans`` re-derives each one with ``decide.plan_at`` and checks
it). The risk gates themselves compute in Decimal and explain themselves in sentences, so they stay in Python:
the kernel decides a gate only where its outcome is certain, and otherwise *suspends* — it returns a request
(``NEED_KS``, ``NEED_EXIT``, ``NEED_CB``), the engine calls the real gate, writes the answer into the state
arrays and calls the kernel again, which resumes at the phase it left. ``NEED_SPACE`` asks for larger output
buffers the same way. With ``screen`` off every gate call is a suspension (the reference the tests compare with).

Certain outcomes (each far outside float rounding of the gate's own exact comparison):

- kill switch: armed, and the drawdown from the peak of a window one day *wider* than the gate's (never before
  the last re-arm) is below the threshold by more than 1e-9 → PASS; tripped and still in its cooldown → DENY;
- position exit: the last price strictly inside ``[stop, take]`` widened by 1 % → PASS; beyond the stop or the
  take price by a relative 1e-9 → DENY (stop_loss / take_profit); the band in between asks the gate. The
  engine obtains the reason of a DENY decided here from the real gate when it is read, which re-checks it;
- cost-benefit: the benefit clears cost + margin by more than a tolerance → PASS; with ``skip``, falls short by
  more than it → DENY (only forced trades kept). Near a tie, and always with ``trim``, the gate decides.

``close_t`` is the close panel transposed (symbols × days), C-contiguous. State lives in arrays the engine owns
(the index constants below), so a suspension loses nothing.
"""

from __future__ import annotations

import numpy as np


from aura_common.core.jit import kernel
from aura_common.core.rebalance import (BUY, O_COL, O_FORCED, O_KEEP, O_SIDE, O_WHY, SELL,
                                        WHY_KILL, WHY_STOP, WHY_TAKE,
                                        floor_qty, on_tick, placeable, plan_legs, size_legs, whole_qty)
from aura_common.core.weights import pick_weights
from aura_common.core.regime import advance_codes
from aura_common.core.risk.cost_benefit import benefit_bps

# statuses returned by run_days
DONE, NEED_KS, NEED_EXIT, NEED_CB, NEED_SPACE = 0, 1, 2, 3, 4
# phases (ist[I_PHASE])
P_MARK, P_KS_WAIT, P_EXIT, P_EXIT_WAIT, P_PLAN, P_CB_WAIT, P_FILL = 0, 1, 2, 3, 4, 5, 6

# int state: ist[...]
(I_T, I_PHASE, I_POS, I_REGIME, I_CAND, I_STREAK, I_KS_TRIPPED, I_KS_ENDS, I_KS_SINCE, I_BLOCKED, I_NTR, I_NEV,
 I_NOL, I_NORD, I_CUT, I_SIZE) = range(16)
# float state: fst[...]
F_CASH, F_TRADED, F_PREV_EXPO, F_EQUITY, F_BENEFIT, F_SIZE = range(6)
# int params: pi[...]
(K_LO, K_HI, K_SIG_LO, K_USE_KS, K_USE_EXIT, K_USE_CB, K_SCREEN, K_LIQUIDATE, K_EQUAL, K_CONFIRM, K_KS_POINTS,
 K_TRIM, K_RECORD, K_SIZE) = range(14)
# float params: pf[...]
(G_FEE, G_SLIP, G_FEE_BPS, G_SLIP_BPS, G_EXPO_BULL, G_EXPO_SIDE, G_EXPO_BEAR, G_MAX_W, G_MIN_TRADE, G_KS_MARGIN,
 G_STOP, G_TAKE, G_CB_MARGIN, G_BPS_PER_SCORE, G_SIZE) = range(15)
# book rows: book[...] (N columns)
B_QTY, B_ENTRY, B_LAST, B_WEIGHT, B_TARGET, B_SIZE = range(6)
# order columns: o_i[k, ...] and o_f[k]: core.rebalance's legs (O_COL, O_SIDE, O_FORCED, O_WHY, O_KEEP)
# per-day outputs: out_f[...] rows
D_MARK, D_EQUITY, D_EXPO, D_SIZE = range(4)
# trades: tr_i[k] = (day, col, side, why); tr_f[k] = (qty, price, notional, fee)
# events: ev_i[k] = (day, phase, col, gate, olog start, olog count); ev_f[k] = (a, b) (entry, last | benefit, equity)

# SELL, BUY and the why codes (trade reasons; forced codes share the first three) are core.rebalance's
EV_STOP, EV_TAKE, EV_CB = 1, 2, 3
REL = 1e-9  # relative distance from a gate's threshold beyond which its outcome is certain


@kernel
def book_value(qty: np.ndarray, last: np.ndarray) -> float:
    """The value of the holdings at their last marks."""
    value = 0.0
    for j in range(qty.shape[0]):
        if qty[j] > 0:
            value += qty[j] * last[j]
    return value


@kernel
def sell_fill(j: int, q: float, px: float, fee: float, qty: np.ndarray, entry: np.ndarray) -> float:
    """Sell ``q`` of column ``j`` at ``px`` (a SELL pays its fee in the quote asset it receives); returns the gross.
    What the lot step leaves of a whole holding stays (dust); a holding sold to nothing forgets its entry."""
    held = qty[j]
    if held - q <= held * 1e-12:
        qty[j] = 0.0
        entry[j] = 0.0
    else:
        qty[j] = held - q
    return q * px


@kernel
def record_trade(tr_i: np.ndarray, tr_f: np.ndarray, nt: int, d: int, j: int, side: int, why: int, q: float,
                 px: float, gross: float, fee: float) -> int:
    tr_i[nt, 0], tr_i[nt, 1], tr_i[nt, 2], tr_i[nt, 3] = d, j, side, why
    tr_f[nt, 0], tr_f[nt, 1], tr_f[nt, 2], tr_f[nt, 3] = q, px, gross, fee
    return nt + 1


@kernel
def run_days(close_t: np.ndarray, score: np.ndarray, floor: np.ndarray, selected: np.ndarray, observed: np.ndarray,
             dec_ms: np.ndarray, lots: np.ndarray, pi: np.ndarray, pf: np.ndarray, ist: np.ndarray,
             fst: np.ndarray, book: np.ndarray, forced: np.ndarray, o_i: np.ndarray, o_f: np.ndarray,
             out_f: np.ndarray, out_reg: np.ndarray, tr_i: np.ndarray, tr_f: np.ndarray, ev_i: np.ndarray,
             ev_f: np.ndarray, ol_i: np.ndarray, ol_f: np.ndarray, rec_w: np.ndarray, rec_tgt: np.ndarray,
             rec_state: np.ndarray) -> int:
    n = close_t.shape[0]
    lo, hi, sig_lo = pi[K_LO], pi[K_HI], pi[K_SIG_LO]
    screen = pi[K_SCREEN] != 0
    fee, slip = pf[G_FEE], pf[G_SLIP]
    qty, entry, last, weight, target = book[B_QTY], book[B_ENTRY], book[B_LAST], book[B_WEIGHT], book[B_TARGET]
    step, min_qty, min_notional, tick = lots[0], lots[1], lots[2], lots[3]
    pick_scores, pick_current, scores = np.empty(selected.shape[1]), np.empty(selected.shape[1]), np.empty(n)
    ref, sized = np.empty(n), np.empty(o_i.shape[0])
    while ist[I_T] < hi:
        t = ist[I_T]
        d = t - lo
        r = t - sig_lo
        now = dec_ms[r]
        phase = ist[I_PHASE]

        if phase == P_MARK:
            if (ist[I_NTR] + 2 * n > tr_i.shape[0] or ist[I_NEV] + n + 2 > ev_i.shape[0]
                    or ist[I_NOL] + n > ol_i.shape[0]):
                return NEED_SPACE
            value = 0.0
            for j in range(n):
                if qty[j] > 0:
                    p = close_t[j, t]
                    if p == p:
                        last[j] = p
                    value += qty[j] * last[j]
            equity = fst[F_CASH] + value
            fst[F_EQUITY] = equity
            out_f[D_MARK, d] = equity
            forced[:] = 0
            ist[I_BLOCKED] = 0
            ist[I_POS] = 0
            if equity <= 0:
                ist[I_BLOCKED] = 1
            elif pi[K_USE_KS] != 0:
                ask = True
                if screen and ist[I_KS_TRIPPED] != 0:
                    ends = ist[I_KS_ENDS]
                    if ends < 0 or now < ends:
                        ist[I_BLOCKED] = 1  # stays tripped until a reset or the end of the cooldown
                        ask = False
                elif screen:
                    m = max(min(pi[K_KS_POINTS], d + 1 - ist[I_KS_SINCE]), 1)
                    peak = out_f[D_MARK, d - m + 1:d + 1].max()
                    if peak <= 0 or (peak - equity) / peak < pf[G_KS_MARGIN]:
                        ask = False
                if ask:
                    ist[I_PHASE] = P_KS_WAIT
                    return NEED_KS
            ist[I_PHASE] = P_EXIT
        elif phase == P_KS_WAIT:  # the engine wrote the gate's answer into ist[I_BLOCKED]
            ist[I_PHASE] = P_EXIT
        elif phase == P_EXIT_WAIT:  # the engine wrote the gate's answer into forced[pos]
            ist[I_POS] += 1
            ist[I_PHASE] = P_EXIT
        elif phase == P_EXIT:
            if pi[K_USE_EXIT] != 0:
                for j in range(ist[I_POS], n):
                    if qty[j] <= 0 or not placeable(floor_qty(qty[j], step[j]), last[j], min_qty[j], min_notional[j]):
                        continue  # nothing, or a leftover too small to sell (dust): not a position
                    e = entry[j]
                    px = last[j]
                    if screen and e > 0:
                        stop = e * pf[G_STOP]
                        take = e * pf[G_TAKE]
                        if stop * 1.01 < px < take * 0.99:
                            continue
                        if px <= stop * (1 - REL) or px >= take * (1 + REL):
                            forced[j] = WHY_STOP if px <= stop * (1 - REL) else WHY_TAKE
                            k = ist[I_NEV]
                            ev_i[k, 0], ev_i[k, 1], ev_i[k, 2], ev_i[k, 3] = d, P_EXIT, j, forced[j]
                            ev_f[k, 0], ev_f[k, 1] = e, px
                            ist[I_NEV] = k + 1
                            continue
                        if stop * (1 + REL) < px < take * (1 - REL):
                            continue
                    ist[I_POS] = j
                    ist[I_PHASE] = P_EXIT_WAIT
                    return NEED_EXIT
            # the risk exits fill before the plan, as the trader's risk tick sells before its rebalance: a stop-loss /
            # take-profit, or every holding when the tripped switch liquidates; the plan then sees the book after them
            liquidate = ist[I_BLOCKED] != 0 and pi[K_LIQUIDATE] != 0
            cash = fst[F_CASH]
            nt = ist[I_NTR]
            for j in range(n):
                if qty[j] <= 0:
                    continue
                if liquidate and forced[j] == 0:
                    forced[j] = WHY_KILL
                if forced[j] == 0:
                    continue
                q = whole_qty(qty[j], step[j])
                if q <= 0 or not placeable(q, last[j], min_qty[j], min_notional[j]):
                    continue  # dust: not sellable, the trader skips it too
                px = on_tick(last[j] * (1 - slip), tick[j], False)
                gross = sell_fill(j, q, px, fee, qty, entry)
                cash += gross - gross * fee
                fst[F_TRADED] += gross
                nt = record_trade(tr_i, tr_f, nt, d, j, SELL, forced[j], q, px, gross, gross * fee)
            ist[I_NTR] = nt
            fst[F_CASH] = cash
            fst[F_EQUITY] = cash + book_value(qty, last)
            ist[I_PHASE] = P_PLAN
        elif phase == P_PLAN:
            equity = fst[F_EQUITY]
            held_w = equity > 0
            for j in range(n):
                weight[j] = qty[j] * last[j] / equity if held_w and qty[j] > 0 else 0.0
            if pi[K_RECORD] != 0:
                rec_w[d, :] = weight
                rec_state[d, 0], rec_state[d, 1], rec_state[d, 2] = ist[I_REGIME], ist[I_CAND], ist[I_STREAK]
            reg, cand, streak = advance_codes(ist[I_REGIME], ist[I_CAND], ist[I_STREAK], observed[r], pi[K_CONFIRM])
            ist[I_REGIME], ist[I_CAND], ist[I_STREAK] = reg, cand, streak
            expo = pf[G_EXPO_BULL + reg]
            target[:] = 0.0
            if expo > 0:
                m = 0
                while m < selected.shape[1] and selected[r, m] >= 0:
                    m += 1
                if m > 0:
                    cols = selected[r, :m]
                    for k in range(m):
                        pick_scores[k] = score[r, cols[k]]
                        pick_current[k] = weight[cols[k]]
                    w = pick_weights(pick_scores[:m], pick_current[:m], expo, pi[K_EQUAL] != 0, pf[G_MAX_W],
                                     pf[G_MIN_TRADE])
                    for k in range(m):
                        target[cols[k]] = w[k]
            if pi[K_RECORD] != 0:
                rec_tgt[d, :] = target
            cut = expo < fst[F_PREV_EXPO]
            lift = expo > fst[F_PREV_EXPO]
            fst[F_PREV_EXPO] = expo
            ist[I_CUT] = 1 if cut else 0
            # the one post-plan step (core/rebalance.py): stops, the kill-switch policy, legs in symbol order
            no, weighed = plan_legs(qty, weight, target, forced, ist[I_BLOCKED] != 0, pi[K_LIQUIDATE] != 0, cut,
                                    lift, equity, min_notional, o_i, o_f)
            ist[I_NORD] = no
            ist[I_PHASE] = P_FILL
            if pi[K_USE_CB] != 0 and weighed:
                for j in range(n):  # held and target symbols: their score, or the cross-section's lowest
                    v = score[r, j]
                    scores[j] = v if v == v else floor[r]
                benefit = benefit_bps(weight, target, scores, pf[G_BPS_PER_SCORE])
                fst[F_BENEFIT] = benefit
                decided = False
                if screen and equity > 0:
                    notional = 0.0
                    for k in range(no):
                        if o_i[k, O_FORCED] == 0:
                            notional += o_f[k]
                    cost = notional * (pf[G_FEE_BPS] + pf[G_SLIP_BPS]) / equity
                    margin = pf[G_CB_MARGIN]
                    edge = benefit - (cost + margin)
                    tol = 1e-6 + 1e-9 * (abs(benefit) + cost + margin)
                    if edge > tol:
                        decided = True
                    elif edge < -tol and pi[K_TRIM] == 0:
                        decided = True
                        k = ist[I_NEV]
                        start = ist[I_NOL]
                        for u in range(no):  # the orders, for the gate's explanation
                            ol_i[start + u, 0], ol_i[start + u, 1] = o_i[u, O_COL], o_i[u, O_SIDE]
                            ol_i[start + u, 2] = o_i[u, O_FORCED]
                            ol_f[start + u] = o_f[u]
                            if o_i[u, O_FORCED] == 0:
                                o_i[u, O_KEEP] = 0
                        ev_i[k, 0], ev_i[k, 1], ev_i[k, 2], ev_i[k, 3] = d, P_PLAN, -1, EV_CB
                        ev_i[k, 4], ev_i[k, 5] = start, no
                        ev_f[k, 0], ev_f[k, 1] = benefit, equity
                        ist[I_NEV] = k + 1
                        ist[I_NOL] = start + no
                if not decided:
                    ist[I_PHASE] = P_CB_WAIT
                    return NEED_CB
        elif phase == P_CB_WAIT:  # the engine wrote the gate's answer into o_i[:, O_KEEP]
            ist[I_PHASE] = P_FILL
        else:  # P_FILL: the legs sized by the shared rule, sells first, then buys with the cash there is
            no = ist[I_NORD]
            for j in range(n):  # the reference price: today's close, else the last mark
                p = close_t[j, t]
                ref[j] = p if p == p else last[j]
            size_legs(o_i, o_f, no, qty, ref, step, min_qty, min_notional, fst[F_CASH], pf[G_FEE] + pf[G_SLIP],
                      sized)
            cash = fst[F_CASH]
            traded = fst[F_TRADED]
            nt = ist[I_NTR]
            for k in range(no):
                q = sized[k]
                if q <= 0 or o_i[k, O_SIDE] != SELL:
                    continue
                j = o_i[k, O_COL]
                px = on_tick(last[j] * (1 - slip), tick[j], False)
                gross = sell_fill(j, q, px, fee, qty, entry)
                cash += gross - gross * fee
                traded += gross
                nt = record_trade(tr_i, tr_f, nt, d, j, SELL, o_i[k, O_WHY], q, px, gross, gross * fee)
            for k in range(no):
                q = sized[k]
                if q <= 0 or o_i[k, O_SIDE] != BUY:
                    continue
                j = o_i[k, O_COL]
                price = close_t[j, t]
                if price != price:
                    continue  # no candle today: not bought
                px = on_tick(price * (1 + slip), tick[j], True)
                gross = q * px
                if gross > cash:
                    continue
                cash -= gross
                traded += gross
                got = q * (1 - fee)  # a BUY pays its fee in the base asset it receives
                held = qty[j]
                entry[j] = (entry[j] * held + px * got) / (held + got)
                qty[j] = held + got
                last[j] = price
                nt = record_trade(tr_i, tr_f, nt, d, j, BUY, o_i[k, O_WHY], q, px, gross, gross * fee)
            if cash < 0:
                raise AssertionError("cash went negative: an accounting bug")
            ist[I_NTR] = nt
            fst[F_CASH] = cash
            fst[F_TRADED] = traded
            value = book_value(qty, last)
            equity = cash + value
            out_f[D_EQUITY, d] = equity
            out_f[D_EXPO, d] = value / equity if equity > 0 else 0.0
            out_reg[d] = ist[I_REGIME]
            ist[I_T] = t + 1
            ist[I_PHASE] = P_MARK
    return DONE
