"""The three concentric risk gates, pure: kill switch, stop-loss / take-profit, cost-benefit.

The trader and the backtester call the same functions. Each returns a ``GateResult`` (pass / clip / deny, a
sentence of reason and its figures).
"""

from aura_common.core.risk.cost_benefit import TradeEstimate, cost_benefit, rebalance_benefit_bps, trades_cost_bps
from aura_common.core.risk.gate import GateDecision, GateResult
from aura_common.core.risk.kill_switch import KillSwitchState, cooldown_ends_ms, kill_switch, reset_kill_switch
from aura_common.core.risk.position_exit import exit_prices, position_exit, sl_check_decision

__all__ = [
    "GateDecision",
    "GateResult",
    "KillSwitchState",
    "TradeEstimate",
    "cooldown_ends_ms",
    "cost_benefit",
    "exit_prices",
    "kill_switch",
    "position_exit",
    "rebalance_benefit_bps",
    "reset_kill_switch",
    "sl_check_decision",
    "trades_cost_bps",
]
