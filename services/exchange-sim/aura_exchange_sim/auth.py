"""Signed-request checks exactly as Binance does them (spec §2): API-key header, timestamp/recvWindow, HMAC-SHA256.

The signature is verified over the RAW query string concatenated with the RAW body, exactly as received, with the
``signature`` parameter removed — never over a re-encoded dict, so ``%5B`` or ``+`` encodings cannot break it.

Time. The timestamp is accepted when it is valid against EITHER the host's wall clock (what a client's local clock
agrees with) OR the simulation clock (what a client that adjusts to ``/api/v3/time`` sends). With a real-time clock
both coincide; in a replay of 2019 the wall clock is what makes ordinary clients work. Forced -1021 answers come from
the ``timestamp`` fault.
"""

from __future__ import annotations

import hashlib
import hmac

from aura_exchange_sim import errors

MAX_RECV_WINDOW = 60_000
DEFAULT_RECV_WINDOW = 5_000


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """``a=1&b=2&signature=ff`` -> (``a=1&b=2``, ``ff``); the rest of the raw string is kept byte for byte."""
    if "signature=" not in raw:
        return raw, None
    sig, kept = None, []
    for part in raw.split("&"):
        if part.startswith("signature="):
            sig = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), sig


def check_timestamp(params: dict[str, str], clocks: tuple[int, ...]) -> None:
    raw_ts = params.get("timestamp")
    if not raw_ts:
        raise errors.missing("timestamp")
    try:
        ts = int(float(raw_ts))
        recv = float(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
    except ValueError:
        raise errors.bad_param("timestamp" if not raw_ts.isdigit() else "recvWindow", "^[0-9]{1,20}$") from None
    if recv > MAX_RECV_WINDOW:
        raise errors.recv_window_too_large()
    if ts > 10**14:  # microseconds
        ts //= 1000
    ahead = False
    for server in clocks:
        if ts < server + 1000 and server - ts <= recv:
            return
        ahead = ahead or ts >= server + 1000
    raise errors.timestamp_ahead() if ahead else errors.timestamp_outside()


def verify(query: str, body: str, params: dict[str, str], api_key: str | None, keys: dict[str, str],
           clocks: tuple[int, ...]) -> str:
    """Raise the Binance error for a bad signed request; return the API key on success."""
    if not api_key or len(api_key) > 256 or any(c.isspace() for c in api_key):
        raise errors.bad_key_format()
    secret = keys.get(api_key)
    if secret is None:
        raise errors.bad_key()
    check_timestamp(params, clocks)
    q, sig_q = _strip_signature(query)
    b, sig_b = _strip_signature(body)
    sig = sig_q if sig_q is not None else sig_b
    if not sig:
        raise errors.missing("signature")
    expected = sign(secret, q + b)
    if not hmac.compare_digest(expected, sig.lower()):
        raise errors.bad_signature()
    return api_key
