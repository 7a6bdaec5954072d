"""Read-only queries of a journal file while (or after) a trader process writes it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def journal_rows_ro(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
