"""The Broker port and its peers: the ccxt broker (Binance Spot or the simulator) and the paper broker."""

from aura_common.adapters.broker.errors import (
    BrokerError,
    DuplicateClientOrderId,
    FatalBrokerError,
    InsufficientBalance,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
    translate,
)
from aura_common.adapters.broker.port import Broker

__all__ = [
    "Broker",
    "BrokerError",
    "DuplicateClientOrderId",
    "FatalBrokerError",
    "InsufficientBalance",
    "OrderNotFound",
    "OutcomeUnknown",
    "RateLimited",
    "Rejected",
    "TransientError",
    "translate",
]
