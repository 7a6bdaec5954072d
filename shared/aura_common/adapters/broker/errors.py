"""Broker errors, named by what the caller must do — and the ONE table that maps ccxt's exceptions onto them.

    BrokerError
    ├── FatalBrokerError        configuration/auth problem: stop and tell the operator
    ├── TransientError          retry an idempotent READ with backoff
    │   └── RateLimited         back off (honour retry_after when known)
    ├── Rejected                the venue definitively refused the order: journal the reason, move on
    │   └── InsufficientBalance
    ├── DuplicateClientOrderId  an OPEN order already carries this id: it is ours — look it up, never resend
    ├── OrderNotFound           a lookup by id found nothing (may be status lag right after sending)
    └── OutcomeUnknown          a SEND whose result never arrived (timeout, reset, 5xx, empty body):
                                the order may exist; look it up by client order id before anything else

Only idempotent calls are retried. ``translate(exc, sending=..., what=...)`` is the single mapping; ``sending`` says
whether the failed call could have created an order (then every network-level failure is OutcomeUnknown, not
transient). An answer that cannot be parsed (an HTML page with status 200, a JSON document of the wrong shape: the
parser's ``AttributeError``/``TypeError``/``KeyError``/``ValueError``) is a *malformed answer*: transient for a read,
unknown outcome for a send, with one line naming the endpoint (``what``) — never a Python exception name.
"""

from __future__ import annotations

import ccxt


class BrokerError(Exception):
    kind = "other"  # the metrics label (aura_exchange_errors_total{kind})


class FatalBrokerError(BrokerError):
    kind = "auth"


class TransientError(BrokerError):
    kind = "transient"


class RateLimited(TransientError):
    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(BrokerError):
    kind = "rejected"


class InsufficientBalance(Rejected):
    pass


class DuplicateClientOrderId(BrokerError):
    kind = "rejected"


class OrderNotFound(BrokerError):
    kind = "other"


class OutcomeUnknown(BrokerError):
    kind = "unknown_outcome"


def _message(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."


MALFORMED = (AttributeError, TypeError, KeyError, IndexError, ValueError, ArithmeticError)


def translate(exc: BaseException, *, sending: bool, what: str = "") -> BrokerError:
    """Map one third-party exception onto the hierarchy above. Order of checks matters (subclasses first)."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, MALFORMED) and not isinstance(exc, ccxt.BaseError):
        msg = f"malformed answer from {what or 'the venue'} (not the JSON the API documents)"
        return OutcomeUnknown(msg) if sending else TransientError(msg)
    msg = f"{type(exc).__name__}: {_message(exc)}"
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(msg)
    if isinstance(exc, ccxt.InvalidOrder) and "Duplicate order sent" in str(exc):
        return DuplicateClientOrderId(msg)
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientBalance(msg)
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.NotSupported, ccxt.ArgumentsRequired)):
        return FatalBrokerError(msg)
    if isinstance(exc, (ccxt.InvalidOrder, ccxt.BadRequest, ccxt.OperationRejected)):
        return Rejected(msg)  # filters, notional, bad symbol, market closed: the venue refused it
    if isinstance(exc, ccxt.InvalidNonce):
        # -1021: rejected before processing; a resend with the same id is safe, but we still let the caller
        # look it up first when sending (cheap, and keeps a single code path for sends).
        return OutcomeUnknown(msg) if sending else TransientError(msg)
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        # A 429/418 on a send is rejected before matching by Binance, yet "before" is not guaranteed by any
        # document we have: treat a send as unknown (look it up), a read as rate limited.
        return OutcomeUnknown(msg) if sending else RateLimited(msg)
    if isinstance(exc, (ccxt.NetworkError, ccxt.OperationFailed)):
        # timeouts, resets, refused connections, 5xx, -1000/-1001/-1007, non-JSON bodies
        return OutcomeUnknown(msg) if sending else TransientError(msg)
    if isinstance(exc, ccxt.ExchangeError):
        # e.g. -1008 "server overloaded" arrives as a bare ExchangeError on non-Binance hostnames
        return OutcomeUnknown(msg) if sending else TransientError(msg)
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return OutcomeUnknown(msg) if sending else TransientError(msg)
    return BrokerError(msg)
