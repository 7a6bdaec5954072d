"""Service mode (APScheduler, real process, SIGTERM) and the progress reporter."""

from __future__ import annotations

import io
import logging
import signal
import time
from datetime import datetime, timezone

import pytest

from aura_common.config import ConfigError
from aura_optimizer.progress import Progress
from aura_optimizer.service import build_scheduler
from optimizer_helpers import reaped, read_until, signal_and_wait


def test_invalid_cron_is_a_config_error_naming_the_key(ws):
    with pytest.raises(ConfigError) as err:
        build_scheduler("every sunday", lambda: None, "aura.yaml")
    assert err.value.key == "schedules.optimizer_cron"
    proc = ws.aura("--service", env={"AURA_SCHEDULES__OPTIMIZER_CRON": "61 * * * *"})
    assert proc.returncode == 2 and "schedules.optimizer_cron" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cron_fires_on_its_schedule():
    _, trigger = build_scheduler("0 3 * * 0", lambda: None, "aura.yaml")
    after = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)  # a Tuesday
    assert trigger.get_next_fire_time(None, after) == datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


def test_service_starts_waits_and_stops_on_sigterm(ws):
    with reaped(ws.popen("--service")) as proc:
        line = read_until(proc, "OPTIMIZE_SERVICE", timeout=60)
        assert "state=started" in line and "next_run=" in line, line
        err = signal_and_wait(proc, signal.SIGTERM, timeout=30)
    assert proc.returncode == 0, err
    assert "state=stopped signal=SIGTERM" in err
    assert ws.runs() == []  # nothing ran before its slot


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_plain_progress_lines_every_ten_percent_with_eta(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="aura.optimize")
    bar = Progress(40, 0, clock, stream=io.StringIO(), tty=False)
    for _ in range(40):
        clock.t += 0.5
        bar.advance()
    bar.close()
    lines = [r.getMessage() for r in caplog.records if "OPTIMIZE_PROGRESS" in r.getMessage()]
    assert len(lines) == 10
    assert lines[0].startswith("[OPTIMIZE_PROGRESS] done=4 total=40 pct=10 elapsed_s=2 eta_s=18")
    assert lines[-1].endswith("eta_s=0")


def test_resumed_progress_starts_from_the_finished_trials(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="aura.optimize")
    bar = Progress(100, 55, clock, stream=io.StringIO(), tty=False)
    assert bar.eta_s() is None
    clock.t += 1.0
    for _ in range(5):
        bar.advance()
    assert bar.eta_s() == pytest.approx(1.0 / 5 * 40)
    assert "done=60" in caplog.records[-1].getMessage()


def test_tty_progress_draws_a_bar():
    stream = io.StringIO()
    bar = Progress(10, 0, FakeClock(), stream=stream, tty=True)
    for _ in range(10):
        bar.advance()
    bar.close()
    assert "10/10" in stream.getvalue()


@pytest.mark.parametrize("cron,after,expected", [
    # 2026-11-24 is a Tuesday; crontab day 0 (and 7) is Sunday, not APScheduler's Monday
    ("0 3 * * 0", (2026, 11, 24, 9, 0), (2026, 11, 29, 3, 0)),
    ("0 3 * * 7", (2026, 11, 24, 9, 0), (2026, 11, 29, 3, 0)),
    ("0 3 * * 1-5", (2026, 11, 28, 9, 0), (2026, 11, 30, 3, 0)),  # Saturday -> Monday
    ("30 1 * * */3", (2026, 11, 24, 9, 0), (2026, 11, 25, 1, 30)),  # sun, wed, sat
    ("0 0 1 * *", (2026, 11, 24, 9, 0), (2026, 12, 1, 0, 0)),
    ("15 2 * * sun", (2026, 11, 24, 9, 0), (2026, 11, 29, 2, 15)),
])
def test_crontab_days_mean_what_cron_means(cron, after, expected):
    _, trigger = build_scheduler(cron, lambda: None, "aura.yaml")
    got = trigger.get_next_fire_time(None, datetime(*after, tzinfo=timezone.utc))
    assert got == datetime(*expected, tzinfo=timezone.utc)


@pytest.mark.parametrize("cron", ["0 3 * *", "0 3 * * 8", "0 3 * * 5-2", "61 * * * *", "0 3 * * */0"])
def test_bad_crontabs(cron):
    with pytest.raises(ConfigError):
        build_scheduler(cron, lambda: None, "aura.yaml")


def test_service_runs_now_and_on_schedule_until_stopped(ws):
    with reaped(ws.popen("--service", "--now", "--space", "space.yaml", "--folds", "1", "--trials", "4")) as proc:
        read_until(proc, "OPTIMIZE_DONE")
        err = signal_and_wait(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    [run] = ws.runs()
    assert (run / "results.json").is_file() and not (run / "INCOMPLETE").exists()
    assert ws.strategy.read_text() != (run / "proposed.yaml").read_text()  # the service never applies


def test_sigterm_interrupts_a_service_run_which_stays_resumable(ws, tmp_path):
    # An empty kernel cache: the first trial compiles the backtest kernels (a minute under load), which is where the
    # stop used to wait - the flag is checked between trials - until the test's timeout ran out. The worker process
    # is terminated instead, well within `docker stop`'s grace period (compose: 30 s).
    cold = {"NUMBA_CACHE_DIR": str(tmp_path / "cold-jit-cache")}
    with reaped(ws.popen("--service", "--now", "--space", "space.yaml", "--folds", "2", "--trials", "400",
                         env=cold)) as proc:
        read_until(proc, "OPTIMIZE_START")
        time.sleep(1.0)
        t0 = time.monotonic()
        err = signal_and_wait(proc, signal.SIGTERM)
        stop_s = time.monotonic() - t0
    assert proc.returncode == 0, err
    assert stop_s < 30, f"stopped {stop_s:.1f} s after SIGTERM"
    assert "Traceback" not in err
    [run] = ws.runs()
    assert "--resume" in (run / "INCOMPLETE").read_text()
    assert not (run / "results.json").exists()
