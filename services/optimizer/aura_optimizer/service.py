"""``aura optimize --service``: one run on each ``schedules.optimizer_cron`` (UTC), APScheduler's blocking scheduler.

A run that fails is logged (``[OPTIMIZE_FAILED]``) and the service waits for the next slot; runs never overlap
(``max_instances=1``), missed slots collapse into one (``coalesce``). SIGTERM (``docker stop``) shuts the
scheduler down and interrupts a run in progress, which is left marked INCOMPLETE (``--resume`` continues it): the
signal only sets a flag (``stop.py``); the run's worker process is terminated at once, and the scheduler's own job
``stop-watch`` shuts it down from the main thread.
Runs execute in the scheduler's own (main) thread. Results are never applied.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import datetime, timezone

from aura_common.adapters.logs import event
from aura_common.config import ConfigError
from aura_optimizer import stop as stop_flag

log = logging.getLogger("aura.optimize")


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _day_of_week(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) in APScheduler's terms. APScheduler 3 numbers days from
    Monday = 0, so ``CronTrigger.from_crontab("0 3 * * 0")`` would fire on Mondays; names mean the same to both."""
    out: list[str] = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if any(c.isalpha() for c in base):
            out.append(part)
            continue
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            lo, hi = (int(x) for x in base.split("-", 1))
        else:
            lo = hi = int(base)
            if step:
                hi = 6
        if not (0 <= lo <= hi <= 7) or (step and int(step) < 1):
            raise ValueError(f"day of week {part!r} is not a crontab day (0-7, 0 and 7 = Sunday)")
        out.extend(_DAY_NAMES[d] for d in range(lo, hi + 1, int(step or 1)))
    return ",".join(dict.fromkeys(out))


def cron_trigger(cron: str):
    """A standard 5-field crontab line (minute hour day month day-of-week), UTC."""
    from apscheduler.triggers.cron import CronTrigger
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month day-of-week), got {len(fields)}")
    minute, hour, day, month, dow = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_day_of_week(dow),
                       timezone="UTC")


def build_scheduler(cron: str, job: Callable[[], object], source: str):
    from apscheduler.executors.debug import DebugExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler
    try:
        trigger = cron_trigger(cron)
    except ValueError as exc:
        raise ConfigError(source, "schedules.optimizer_cron", f"invalid cron expression {cron!r}: {exc}") from None
    # The run executes in the scheduler's (main) thread: its worker pool forks a single-threaded process, and
    # SIGTERM can interrupt it.
    sched = BlockingScheduler(timezone="UTC", executors={"default": DebugExecutor()})
    sched.add_job(job, trigger, id="optimize", max_instances=1, coalesce=True, misfire_grace_time=3600)
    return sched, trigger


STOP_POLL_SECONDS = 0.5   # how often the idle scheduler looks at the stop flag


def serve(cron: str, job: Callable[[], int], source: str, run_now: bool = False) -> int:
    received: list[int] = []

    def stop(signum, _frame) -> None:
        # Only a flag: never raise, log, take a lock or call the scheduler here. The handler runs in the main thread
        # between two bytecodes of whatever it is doing - a log call, a library's weakref callback (where an
        # exception is printed and dropped), or the scheduler's own threading.Event.wait()/clear(), whose lock
        # shutdown() would take again: a deadlock. A run in progress sees the flag (its worker process is
        # terminated, also mid-trial) and is marked INCOMPLETE (resumable); the idle scheduler sees it within
        # STOP_POLL_SECONDS.
        received.append(signum)
        stop_flag.request()

    stop_flag.clear()
    signal.signal(signal.SIGTERM, stop)   # before anything else: a stop that arrives during start-up is kept

    def guarded() -> None:
        if stop_flag.requested():
            return
        try:
            code = job()
            if code:
                event(log, "OPTIMIZE_FAILED", exit_code=code)
        except Exception as exc:  # the service outlives a failed run
            event(log, "OPTIMIZE_FAILED", error=f"{type(exc).__name__}: {exc}")

    sched, trigger = build_scheduler(cron, guarded, source)
    if run_now:  # once at start-up as well (the same guarded job, in the same thread: never overlapping)
        sched.add_job(guarded, "date", id="optimize-now", misfire_grace_time=None)

    def watch() -> None:  # a job, so in the main thread outside any handler: shutting down is safe here
        if stop_flag.requested() and sched.running:
            sched.shutdown(wait=False)

    sched.add_job(watch, "interval", seconds=STOP_POLL_SECONDS, id="stop-watch", coalesce=True, max_instances=1,
                  misfire_grace_time=None)
    first = trigger.get_next_fire_time(None, datetime.now(timezone.utc))
    event(log, "OPTIMIZE_SERVICE", state="started", cron=cron, next_run=first.isoformat() if first else "-")
    if not stop_flag.requested():
        try:
            sched.start()  # blocks until watch() shuts it down
        except Exception:
            if not received:
                raise
            # stopping in the middle of a run: the scheduler's bookkeeping of that run may fail; nothing is lost
    event(log, "OPTIMIZE_SERVICE", state="stopped",
          signal=signal.Signals(received[0]).name if received else "-")
    return 0
