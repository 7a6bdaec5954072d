"""Translation between domain values and the journal's column types (inside the journal only).

Amounts are ``Decimal`` at the API and canonical fixed-point TEXT in the file: no exponent, no trailing
zeros, no negative zero (``Decimal("1.500")`` and ``Decimal("15E-1")`` are both stored as ``"1.5"``), so equal
values are equal text and the value round-trips exactly. REAL is never used for money.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aura_common.adapters.logs import redact

# Money and quantities never need more than this; a value outside is a bug upstream, not an amount.
MAX_ADJUSTED_EXPONENT = 40


def dec_to_text(value: Decimal, what: str = "amount") -> str:
    """Canonical TEXT for a finite Decimal; ``what`` names the field in the error."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__} {value!r}")
    if not value.is_finite():
        raise ValueError(f"{what} must be finite, got {value}")
    if value.is_zero():
        return "0"
    if abs(value.adjusted()) > MAX_ADJUSTED_EXPONENT:
        raise ValueError(f"{what} {value} is out of range (|exponent| > {MAX_ADJUSTED_EXPONENT})")
    text = format(value, "f")  # exact: no context rounding without a precision
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def text_to_dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def opt_dec_to_text(value: Decimal | None, what: str = "amount") -> str | None:
    return None if value is None else dec_to_text(value, what)


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return dec_to_text(obj, "event field")
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"event field of type {type(obj).__name__} is not JSON-serialisable")


def fields_to_json(fields: Mapping[str, Any]) -> str:
    """Canonical JSON (sorted keys) with every registered secret removed: secrets never reach the journal."""
    return redact(json.dumps(dict(fields), default=_default, sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False))


def json_to_fields(text: str) -> dict[str, Any]:
    return json.loads(text)
