"""The sync guard: table tests of the state machine, and properties together with the kill switch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.core.params import RiskParams
from aura_common.core.risk import KillSwitchState, kill_switch
from aura_common.core.sync_guard import AccountObservation, SyncAction, SyncGuardState, SyncReason, sync_guard

P = RiskParams(sync_guard_max_equity_drop_pct=10.0, sync_guard_confirm_reads=3, kill_switch_max_drawdown_pct=20.0,
               sync_guard_confirm_min_seconds=0.0)
D = Decimal


def good(equity, positions=True, fees="0", prices=None, t=0):
    return AccountObservation({"USDT": D(1), "BTC": D("0.1")}, D(equity), positions, -D(fees), prices or {}, t)


EMPTY = AccountObservation({}, D(0), True)
ZEROS = AccountObservation({"USDT": D(0), "BTC": D(0)}, D(0), True)
FAILED = AccountObservation(None, None, True)


def run(observations, params=P, state=SyncGuardState()):
    out = []
    for obs in observations:
        verdict, state, equity = sync_guard(obs, state, params)
        out.append((verdict, equity))
    return out, state


@pytest.mark.parametrize(
    "obs, reason",
    [
        (EMPTY, SyncReason.EMPTY_BALANCES),
        (ZEROS, SyncReason.EMPTY_BALANCES),
        (FAILED, SyncReason.FETCH_FAILED),
        (AccountObservation({"USDT": D(5)}, None, True), SyncReason.FETCH_FAILED),  # equity not computable
        (good("899.99"), SyncReason.EQUITY_JUMP),  # fell more than 10 %
        (good("1111.12"), SyncReason.EQUITY_JUMP),  # rose more than 1 / 0.9
    ],
)
def test_suspicious_reads_are_rejected_and_keep_the_last_good(obs, reason):
    (first, second), state = run([good(1000), obs])
    assert first[0].accepted and first[1] == D(1000)
    verdict, equity = second
    assert not verdict.accepted and verdict.is_trip
    assert verdict.reason is reason and verdict.action is SyncAction.KEEP_LAST_GOOD
    assert equity == D(1000) and state.last_good_equity == D(1000)
    assert verdict.last_good_equity == D(1000) and verdict.consecutive == 1


@pytest.mark.parametrize(
    "obs",
    [
        good("900"), good("1111.11"),
        good("891", fees="10"),  # a fill's fee explains itself: 1000 - 10 = 990, and 891 is within 10 % of it
    ],
)
def test_plausible_reads_are_accepted_at_once(obs):
    (_, (verdict, equity)), state = run([good(1000), obs])
    assert verdict.accepted and verdict.reason is None and verdict.action is SyncAction.ACCEPT
    assert equity == obs.equity == state.last_good_equity


@pytest.mark.parametrize("obs, reason", [
    # fills explain a change only by their own amounts and prices: a fill swaps cash for coins at its price
    (good("500", fees="1"), SyncReason.EQUITY_JUMP),
    (good("5000", fees="1"), SyncReason.EQUITY_JUMP),
    # flat after a stop-loss sold everything: the proceeds are cash, so an empty account is still implausible
    (AccountObservation({}, D(0), journal_has_positions=False, fills_delta=-D(1)), SyncReason.EMPTY_BALANCES),
    (AccountObservation({"USDT": D(0)}, D(0), journal_has_positions=False), SyncReason.EMPTY_BALANCES),
])
def test_fills_never_explain_a_jump_and_an_empty_account_after_a_flattening_sell_is_held_back(obs, reason):
    (_, (verdict, equity)), state = run([good(1000), obs])
    assert not verdict.accepted and verdict.reason is reason and equity == D(1000)


def test_an_implausible_price_is_held_back_like_an_implausible_balance():
    """A x1e6 ticker on one held symbol: even where equity would hardly move (a small position), the read is
    rejected (price_jump) until K consistent reads confirm it."""
    base = good(1000, prices={"BTCUSDT": D(100), "ETHUSDT": D(10)})
    spike = good(1001, prices={"BTCUSDT": D(100_000_000), "ETHUSDT": D(10)})
    results, state = run([base, spike, good(1000, prices={"BTCUSDT": D(101), "ETHUSDT": D(10)})])
    (_, _), (v, eq), (after, _) = results
    assert not v.accepted and v.reason is SyncReason.PRICE_JUMP and v.symbol == "BTCUSDT" and eq == D(1000)
    assert after.accepted and after.reason is None and state.last_good_prices["BTCUSDT"] == D(101)
    # a real move that persists: accepted on the K-th consistent read
    moved = [good(1000, prices={"BTCUSDT": D(40), "ETHUSDT": D(10)}) for _ in range(3)]
    results, state = run([base, *moved])
    assert [v.accepted for v, _ in results] == [True, False, False, True]
    assert results[-1][0].reason is SyncReason.PRICE_JUMP and state.last_good_prices["BTCUSDT"] == D(40)


def test_confirmations_must_be_spread_over_wall_time():
    """Three empty reads within 0.33 s are a burst, not confirmation: the K-th is accepted only once the streak
    spans sync_guard_confirm_min_seconds of host time."""
    params = RiskParams(sync_guard_confirm_reads=3, sync_guard_confirm_min_seconds=20.0)
    empty = lambda t: AccountObservation({}, D(0), True, now_ms=t)  # noqa: E731
    results, state = run([good(1000, t=0), empty(110), empty(220), empty(330)], params)
    assert [v.accepted for v, _ in results] == [True, False, False, False]
    assert state.last_good_equity == D(1000)
    results, _ = run([good(1000, t=0), empty(1_000), empty(11_000), empty(21_000)], params)
    assert [v.accepted for v, _ in results] == [True, False, False, True]


def test_empty_reads_neither_extend_nor_end_a_streak_and_a_zero_guard_recovers():
    # an empty glitch inside a confirmed-to-be real drop: the drop is still accepted on its third read
    results, _ = run([good(1000), good(700), EMPTY, good(705), EMPTY, good(698)])
    assert [v.accepted for v, _ in results] == [True, False, False, False, False, True]
    # a guard whose last good equity is 0 (it once accepted an empty account) takes the next real read
    results, state = run([good(0, positions=False), good(9778)])
    assert results[-1][0].accepted and state.last_good_equity == D(9778)


def test_first_read_has_nothing_to_compare_with():
    ((verdict, equity),), _ = run([good(1000)])
    assert verdict.accepted and equity == D(1000)
    ((verdict, equity),), _ = run([AccountObservation({}, D(0), journal_has_positions=False)])
    assert verdict.accepted and equity == D(0)  # a new, empty account holding nothing
    ((verdict, equity),), _ = run([EMPTY])
    assert not verdict.accepted and verdict.reason is SyncReason.EMPTY_BALANCES and equity is None


def test_k_consistent_reads_accept_a_real_change():
    results, state = run([good(1000), good(700), good(705), good(698)])
    verdicts = [v for v, _ in results]
    assert [v.accepted for v in verdicts] == [True, False, False, True]
    assert [v.consecutive for v in verdicts[1:]] == [1, 2, 3]
    assert verdicts[-1].reason is SyncReason.EQUITY_JUMP and verdicts[-1].action is SyncAction.ACCEPT
    assert results[-1][1] == D(698) and state == SyncGuardState(last_good_equity=D(698))


def test_a_plain_read_ends_the_streak_and_a_failed_fetch_does_not():
    results, _ = run([good(1000), good(700), good(995), good(700), good(700)])
    assert [v.accepted for v, _ in results] == [True, False, True, False, False]
    results, _ = run([good(1000), good(700), FAILED, good(700), FAILED, good(700)])
    assert [v.accepted for v, _ in results] == [True, False, False, False, False, True]
    assert [v.consecutive for v, _ in results] == [0, 1, 1, 2, 1, 3]


def test_inconsistent_suspicious_reads_restart_the_streak():
    results, _ = run([good(1000), good(700), EMPTY, good(500), good(700), good(705), good(699)])
    assert [v.consecutive for v, _ in results] == [0, 1, 1, 1, 1, 2, 3]
    assert results[-1][0].accepted
    results, _ = run([good(1000), EMPTY, good(700), good(705), good(699)])  # an empty streak, then a drop
    assert [v.consecutive for v, _ in results] == [0, 1, 1, 2, 3] and results[-1][0].accepted


def test_k_of_one_disables_the_guard_for_reads_but_not_for_failed_fetches():
    params = RiskParams(sync_guard_confirm_reads=1)  # the wall-time spread does not apply to K = 1
    results, _ = run([good(1000), EMPTY, FAILED], params)
    assert [v.accepted for v, _ in results] == [True, True, False]


@pytest.mark.parametrize("field, value", [("sync_guard_confirm_reads", 0), ("sync_guard_max_equity_drop_pct", 0.0),
                                          ("sync_guard_max_equity_drop_pct", 100.0),
                                          ("sync_guard_max_price_move_pct", 0.0),
                                          ("sync_guard_confirm_min_seconds", -1.0)])
def test_params_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        RiskParams(**{field: value})


# --- properties ------------------------------------------------------------------------------------------------
K = P.sync_guard_confirm_reads
factor = st.decimals(min_value=D("0.95"), max_value=D("1.05"), places=4)  # good reads move < 10 % a sync
glitch = st.one_of(
    st.just(EMPTY), st.just(FAILED), st.just(ZEROS),
    st.decimals(min_value=D("0"), max_value=D("0.85"), places=3).map(lambda f: ("crash", f)),
    st.decimals(min_value=D("1.2"), max_value=D("10"), places=3).map(lambda f: ("spike", f)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(factor, st.lists(glitch, max_size=K - 1)), min_size=1, max_size=25))
def test_transient_glitches_never_reach_equity_or_the_kill_switch(steps):
    state, _ks, curve = SyncGuardState(), KillSwitchState(), []
    equity = D(10_000)
    good_seen, accepted = [], []
    for i, (f, glitches) in enumerate(steps):
        equity = (equity * f).quantize(D("0.01"))
        reads = [good(equity)] + [
            g if isinstance(g, AccountObservation) else good((equity * g[1]).quantize(D("0.01")))
            for g in glitches
        ]
        good_seen.append(equity)
        for obs in reads:
            verdict, state, used = sync_guard(obs, state, P)
            if verdict.accepted:
                accepted.append(used)
                curve.append((i * 1000 + len(curve), used))
            assert used == state.last_good_equity == good_seen[-1]
    assert accepted == good_seen


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(glitch, min_size=1, max_size=K - 1), min_size=1, max_size=20))
def test_zero_phantom_kill_switch_trips_on_a_flat_account(glitch_runs):
    state, ks, curve, t = SyncGuardState(), KillSwitchState(), [], 0
    for run_ in glitch_runs:
        for obs in [good(10_000)] + [g if isinstance(g, AccountObservation) else good(10_000 * g[1]) for g in run_]:
            t += 1
            verdict, state, used = sync_guard(obs, state, P)
            if verdict.accepted:
                curve.append((t, used))
            result, ks = kill_switch(curve, ks, P, t)
            assert not ks.tripped


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=D("0.05"), max_value=D("0.79"), places=2), st.integers(0, K - 1),
       st.lists(factor.map(lambda f: 1 + (f - 1) / 10), min_size=K, max_size=K))
def test_a_real_crash_persisting_k_reads_is_accepted_and_trips_the_kill_switch(level, glitch_reads, wiggles):
    state, ks, curve = SyncGuardState(), KillSwitchState(), []
    reads = [good(10_000)] + [FAILED] * glitch_reads + [good((D(10_000) * level * w).quantize(D("0.01")))
                                                         for w in wiggles]
    for t, obs in enumerate(reads):
        verdict, state, used = sync_guard(obs, state, P)
        if verdict.accepted:
            curve.append((t, used))
        result, ks = kill_switch(curve, ks, P, t)
    assert verdict.accepted and verdict.reason is SyncReason.EQUITY_JUMP and verdict.consecutive == K
    assert ks.tripped and len(curve) == 2
