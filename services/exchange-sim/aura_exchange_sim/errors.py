"""Binance-shaped API errors: an HTTP status plus a ``{"code", "msg"}`` body (spec §4).

Every rejection the simulator produces is one of these, raised from the engine or the routes and turned into a
response in one place (``server``). The messages are Binance's texts, because ccxt maps several of them by exact
message (e.g. "Account has insufficient balance for requested action." -> InsufficientFunds) or by substring
("LOT_SIZE"/"PRICE_FILTER" -> InvalidOrder, "NOTIONAL" -> BadRequest).
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg = status, code, msg
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


CLIENT_ID_PATTERN = "^[a-zA-Z0-9-_]{1,36}$"
INSUFFICIENT = "Account has insufficient balance for requested action."


def bad_param(name: str, pattern: str) -> ApiError:
    return ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{pattern}'.")


def missing(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_allowed(msg: str) -> ApiError:
    return ApiError(400, -1106, msg)


def invalid_symbol() -> ApiError:
    return ApiError(400, -1121, "Invalid symbol.")


def invalid_interval() -> ApiError:
    return ApiError(400, -1120, "Invalid interval.")


def filter_failure(name: str) -> ApiError:
    return ApiError(400, -1013, f"Filter failure: {name}")


def rejected(msg: str) -> ApiError:
    return ApiError(400, -2010, msg)


def insufficient_balance() -> ApiError:
    return rejected(INSUFFICIENT)


def duplicate_order() -> ApiError:
    return rejected("Duplicate order sent.")


def order_not_found() -> ApiError:
    return ApiError(400, -2013, "Order does not exist.")


def unknown_order() -> ApiError:
    return ApiError(400, -2011, "Unknown order sent.")


def client_id_mismatch() -> ApiError:
    return ApiError(400, -2039, "Client order ID is not correct for this order ID.")


def timestamp_outside() -> ApiError:
    return ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> ApiError:
    return ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def bad_signature() -> ApiError:
    return ApiError(400, -1022, "Signature for this request is not valid.")


def bad_key_format() -> ApiError:
    return ApiError(401, -2014, "API-key format invalid.")


def bad_key() -> ApiError:
    return ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def recv_window_too_large() -> ApiError:
    return ApiError(400, -1131, "recvWindow must be less than 60000")


def too_much_weight(retry_after_s: int, until_ms: int | None = None) -> ApiError:
    return ApiError(429, -1003, "Too much request weight used; current limit is exceeded. Please use WebSocket "
                    "Streams for live updates to avoid polling the API.", {"Retry-After": str(retry_after_s)})


def banned(until_ms: int, retry_after_s: int) -> ApiError:
    return ApiError(418, -1003, f"Way too much request weight used; IP banned until {until_ms}. Please use "
                    "WebSocket Streams for live updates to avoid bans.", {"Retry-After": str(retry_after_s)})


def too_many_orders(limit: int, per: str, retry_after_s: int, headers: dict[str, str]) -> ApiError:
    return ApiError(429, -1015, f"Too many new orders; current limit is {limit} orders per {per}.",
                    {"Retry-After": str(retry_after_s), **headers})
