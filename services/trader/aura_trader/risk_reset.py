"""The kill-switch reset protocol between ``aura risk reset`` and the running trader.

The trader is the journal's only writer, so the command never writes the live journal while a trader holds it.
Instead it drops a request file into ``<journal dir>/control/``:

    control/risk-reset-<UTC stamp>-<pid>.json   {"kind": "risk_reset", "reason", "requester", "requested_ms"}

written atomically (temp file in the same directory, fsync, rename, fsync of the directory), so the trader sees a
whole request or none. At its next risk tick the trader applies every pending request in name (= time) order:
it re-arms a tripped switch through ``Journal.reset_kill_switch`` (the reset, its time, reason and actor go into
``kill_switch_history``), journals a ``RISK_RESET`` event, logs ``[RISK_RESET]``, and moves the request to
``control/done/<same name>`` with the outcome added (``result``: ``reset`` / ``already_armed`` / ``rejected``,
``applied_ms``) - again atomically, and only after the journal write, so a crash in between re-applies the
request (a reset of an armed switch is a no-op). A malformed request is moved to ``done/`` as ``rejected``.

When no trader holds the journal lock, the command takes the lock itself and applies the reset directly
(``apply_reset``), through the same journal method.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aura_common.adapters.files import atomic_write_bytes, fsync_dir
from aura_common.adapters.journal.snapshots import stamp

CONTROL_DIR = "control"
DONE_DIR = "done"
PREFIX = "risk-reset-"
KIND = "risk_reset"
MAX_REQUEST_BYTES = 64 * 1024


def control_dir(journal_path: str | os.PathLike[str]) -> Path:
    return Path(journal_path).parent / CONTROL_DIR


@dataclass(frozen=True)
class ResetRequest:
    path: Path
    reason: str
    requester: str
    requested_ms: int


@dataclass(frozen=True)
class BadRequest:
    path: Path
    problem: str


def write_json_atomic(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path``: temp file in the same directory, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(payload, sort_keys=True, indent=2) + "\n").encode())
    return path


def write_request(directory: Path, reason: str, requester: str, now_ms: int) -> Path:
    """Drop one reset request (atomically) and return its path."""
    if not reason.strip():
        raise ValueError("a kill-switch reset needs a reason")
    path = directory / f"{PREFIX}{stamp(now_ms)}-{os.getpid()}.json"
    return write_json_atomic(path, {"kind": KIND, "reason": reason.strip(), "requester": requester,
                                    "requested_ms": int(now_ms)})


def parse_request(path: Path, raw: bytes) -> ResetRequest | BadRequest:
    """Validate one request file's content (pure apart from the path it names)."""
    if len(raw) > MAX_REQUEST_BYTES:
        return BadRequest(path, f"larger than {MAX_REQUEST_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return BadRequest(path, f"not JSON: {exc}")
    if not isinstance(data, dict) or data.get("kind") != KIND:
        return BadRequest(path, f"not a {KIND} request (kind {data.get('kind') if isinstance(data, dict) else '-'})")
    reason, requester, ms = data.get("reason"), data.get("requester"), data.get("requested_ms")
    if not isinstance(reason, str) or not reason.strip():
        return BadRequest(path, "reason: missing or empty")
    if not isinstance(requester, str) or not requester.strip():
        return BadRequest(path, "requester: missing or empty")
    if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
        return BadRequest(path, f"requested_ms: not a time in ms ({ms!r})")
    return ResetRequest(path, reason.strip(), requester.strip(), ms)


def pending_requests(directory: Path) -> list[ResetRequest | BadRequest]:
    """Every complete request in ``directory``, oldest name first (temp files start with a dot: ignored)."""
    try:
        names = sorted(p for p in directory.iterdir() if p.name.startswith(PREFIX) and p.suffix == ".json")
    except FileNotFoundError:
        return []
    out: list[ResetRequest | BadRequest] = []
    for path in names:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            out.append(BadRequest(path, f"unreadable: {exc.strerror}"))
            continue
        out.append(parse_request(path, raw))
    return out


def done_path(request_path: Path) -> Path:
    return request_path.parent / DONE_DIR / request_path.name


def archive(request: ResetRequest | BadRequest, result: str, now_ms: int, detail: str = "") -> Path:
    """Move a handled request to ``done/`` with its outcome (written atomically, then the original removed)."""
    payload: dict[str, Any] = {"result": result, "applied_ms": int(now_ms)}
    if isinstance(request, ResetRequest):
        payload.update(kind=KIND, reason=request.reason, requester=request.requester,
                       requested_ms=request.requested_ms)
    if detail:
        payload["detail"] = detail
    out = write_json_atomic(done_path(request.path), payload)
    request.path.unlink(missing_ok=True)
    fsync_dir(request.path.parent)
    return out


def apply_reset(journal: Any, reason: str, actor: str, source: str,
                request: str | None = None, cycle_key: str | None = None) -> str:
    """Re-arm a tripped kill switch through the journal writer; ``reset`` or ``already_armed``.

    The reset itself goes to ``kill_switch_history`` (time, reason, actor); a ``RISK_RESET`` event records the
    request and its outcome in the same transaction."""
    with journal.transaction():
        tripped = journal.kill_switch().tripped
        if tripped:
            journal.reset_kill_switch(reason, actor)
        result = "reset" if tripped else "already_armed"
        journal.append_event("RISK_RESET", {"result": result, "reason": reason, "actor": actor, "source": source,
                                            "request": request}, cycle_key=cycle_key)
    return result
