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

Only idempotent calls are retried. ``translate(exc, sending=..., what=...)`` is the single mapping: ``TABLE``, rows of
(exception classes, error for a read, error for a send) walked in order; ``sending`` says
whether the failed call could have created an order (then every network-level failure is OutcomeUnknown, not
transient). An answer that cannot be parsed (an HTML page with status 200, a JSON document of the wrong shape: the
parser's ``AttributeError``/``TypeError``/``KeyError``/``ValueError``) is a *malformed answer*: transient for a read,
unknown outcome for a send, with one line naming the endpoint (``what``) — never a Python exception name.
"""

from __future__ import annotations

from typing import NamedTuple

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


class Rule(NamedTuple):
    """One row of the table: an exception of one of ``catches`` (whose text contains ``containing``) becomes
    ``on_read`` when the failed call was a read, ``on_send`` when it could have created an order."""

    catches: tuple[type[BaseException], ...]
    on_read: type[BrokerError]
    on_send: type[BrokerError]
    containing: str = ""


# THE table, walked top to bottom: the first matching row wins, so subclasses come before their bases.
TABLE: tuple[Rule, ...] = (
    Rule((ccxt.OrderNotFound,), OrderNotFound, OrderNotFound),
    Rule((ccxt.InvalidOrder,), DuplicateClientOrderId, DuplicateClientOrderId, containing="Duplicate order sent"),
    Rule((ccxt.InsufficientFunds,), InsufficientBalance, InsufficientBalance),
    Rule((ccxt.AuthenticationError, ccxt.NotSupported, ccxt.ArgumentsRequired), FatalBrokerError, FatalBrokerError),
    # filters, notional, bad symbol, market closed: the venue refused it
    Rule((ccxt.InvalidOrder, ccxt.BadRequest, ccxt.OperationRejected), Rejected, Rejected),
    # -1021: rejected before processing; a resend with the same id is safe, but we still let the caller look it up
    # first when sending (cheap, and keeps a single code path for sends).
    Rule((ccxt.InvalidNonce,), TransientError, OutcomeUnknown),
    # A 429/418 on a send is rejected before matching by Binance, yet "before" is not guaranteed by any document we
    # have: treat a send as unknown (look it up), a read as rate limited.
    Rule((ccxt.DDoSProtection, ccxt.RateLimitExceeded), RateLimited, OutcomeUnknown),
    # timeouts, resets, refused connections, 5xx, -1000/-1001/-1007, non-JSON bodies
    Rule((ccxt.NetworkError, ccxt.OperationFailed), TransientError, OutcomeUnknown),
    # e.g. -1008 "server overloaded" arrives as a bare ExchangeError on non-Binance hostnames
    Rule((ccxt.ExchangeError,), TransientError, OutcomeUnknown),
    Rule((ConnectionError, TimeoutError, OSError), TransientError, OutcomeUnknown),
)


def translate(exc: BaseException, *, sending: bool, what: str = "") -> BrokerError:
    """Map one third-party exception onto the hierarchy above: ours pass through, a malformed answer is named by its
    endpoint, anything else takes the first matching row of ``TABLE`` (no row: a plain ``BrokerError``)."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, MALFORMED) and not isinstance(exc, ccxt.BaseError):
        msg = f"malformed answer from {what or 'the venue'} (not the JSON the API documents)"
        return OutcomeUnknown(msg) if sending else TransientError(msg)
    msg = f"{type(exc).__name__}: {_message(exc)}"
    for rule in TABLE:
        if isinstance(exc, rule.catches) and rule.containing in str(exc):
            return (rule.on_send if sending else rule.on_read)(msg)
    return BrokerError(msg)
