"""The reset-request file format (pure parsing) and its atomic writer/archiver on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_trader import risk_reset
from aura_trader.risk_reset import BadRequest, ResetRequest, parse_request

P = Path("control/risk-reset-x.json")


def body(**over):
    data = {"kind": "risk_reset", "reason": "ok", "requester": "ops@host", "requested_ms": 1}
    data.update(over)
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


@pytest.mark.parametrize("raw, problem", [
    (body(), None),
    (b"{", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[]", "not a risk_reset request"),
    (body(kind="other"), "not a risk_reset request"),
    (body(reason="  "), "reason: missing or empty"),
    (body(reason=...), "reason: missing or empty"),
    (body(reason=3), "reason: missing or empty"),
    (body(requester=""), "requester: missing or empty"),
    (body(requested_ms=-1), "requested_ms"),
    (body(requested_ms=True), "requested_ms"),
    (body(requested_ms="1"), "requested_ms"),
    (b" " * (risk_reset.MAX_REQUEST_BYTES + 1), "larger than"),
])
def test_parse_request_table(raw, problem):
    out = parse_request(P, raw)
    if problem is None:
        assert out == ResetRequest(P, "ok", "ops@host", 1)
    else:
        assert isinstance(out, BadRequest) and problem in out.problem


@settings(deadline=None, max_examples=60)
@given(st.text(min_size=1, max_size=200).filter(str.strip), st.text(min_size=1, max_size=40).filter(str.strip),
       st.integers(0, 253_402_300_799_999))  # up to 9999-12-31
def test_written_requests_parse_back(tmp_path_factory, reason, requester, ms):
    d = tmp_path_factory.mktemp("control")
    path = risk_reset.write_request(d, reason, requester, ms)
    [req] = risk_reset.pending_requests(d)
    assert req == ResetRequest(path, reason.strip(), requester.strip(), ms)
    assert [p.name for p in d.iterdir()] == [path.name]  # no temp file left behind


def test_archive_moves_the_request_with_its_outcome(tmp_path):
    path = risk_reset.write_request(tmp_path, "why", "me@here", 5)
    [req] = risk_reset.pending_requests(tmp_path)
    done = risk_reset.archive(req, "reset", 9)
    assert not path.exists() and risk_reset.pending_requests(tmp_path) == []
    assert json.loads(done.read_text()) == {"result": "reset", "applied_ms": 9, "kind": "risk_reset", "reason": "why",
                                            "requester": "me@here", "requested_ms": 5}


def test_an_empty_reason_is_refused_at_the_source(tmp_path):
    with pytest.raises(ValueError):
        risk_reset.write_request(tmp_path, " ", "me", 1)
    assert risk_reset.pending_requests(tmp_path / "missing") == []
