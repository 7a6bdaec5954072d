"""One line per event on stdout: ``[TAG] key=value ...``, with a redaction filter for secrets.

Configured only in entry points (``configure_logging``). Library code logs through ``event(logger, TAG, **fields)``
so that field formatting is uniform and greppable. The permanent diagnostic tags ([BOOT], [RISK_TICK],
[SL_CHECK], [SYNC_GUARD], [ENTRY_RECOVER]) are an operator contract documented in docs/log-tags.md.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from aura_common.core.redaction import redact_url_credentials

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
MASK = "***"


def register_secret(value: str) -> None:
    """Make sure ``value`` can never appear in a log line (values shorter than 4 chars are ignored)."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` without any registered secret and without the password of any URL (``core.redaction``)."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return redact_url_credentials(text)


class RedactingFormatter(logging.Formatter):
    """Formats the record (message, args and exception text) and then removes every registered secret."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        s = f"{v:.10g}"
    elif isinstance(v, Decimal):
        s = format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
    elif isinstance(v, (list, tuple, set, frozenset)):
        s = ",".join(_fmt_value(x) for x in v)
    elif v is None:
        s = "-"
    else:
        s = str(v)
    if not s or any(c.isspace() for c in s) or '"' in s:
        s = '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


def format_event(tag: str, **fields: Any) -> str:
    parts = [f"[{tag}]"] + [f"{k}={_fmt_value(v)}" for k, v in fields.items()]
    return " ".join(parts)


def event(logger: logging.Logger, tag: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one ``[TAG] key=value`` line."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", format_event(tag, **fields))


def configure_logging(level: str = "INFO", secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Entry points only: plain lines to stdout through the redacting formatter."""
    for s in secrets:
        register_secret(s)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("urllib3", "ccxt", "apscheduler", "optuna", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
