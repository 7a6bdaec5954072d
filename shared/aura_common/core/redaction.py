"""THE redaction of credentials in URLs: ``scheme://user:password@host`` → ``scheme://user:***@host``. Pure.

Used wherever text is shown or stored: ``aura config check`` and the journal's ``config_versions``
(``config.redacted_dump``), every log line and journal event (``adapters.logs.redact``), the CLI's error line,
and the optimizer's run spec, report and results. Registered secrets (API keys, passwords) are removed separately
by ``adapters.logs``; this catches the ones that only ever arrive inside a URL (``optimizer.storage``).
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://[user]:password@  — the password is anything up to the last '@' before the host part (passwords may
# hold '@' when not percent-encoded; SQLAlchemy splits at the last one too), never crossing '/', whitespace or a
# quote, so that two URLs on one line stay apart.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@'\"]*):(?P<password>[^\s/'\"]*)@"
                           r"(?=[^\s/@'\"]*(?:[/\s'\"?#]|$))")


def redact_url_credentials(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL replaced by ``***``."""
    if "://" not in text:
        return text
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@" if m.group("password") != MASK
                             else m.group(0), text)
