"""``aura optimize --service``: one run on each ``schedules.optimizer_cron`` (UTC), APScheduler's blocking scheduler.

A run that fails is logged (``[OPTIMIZE_FAILED]``) and the service waits for the next slot; runs never overlap
(``max_instances=1``), missed slots collapse into one (``coalesce``). SIGTERM (``docker stop``) shuts the
scheduler down; a run in progress is left marked INCOMPLETE and can be resumed. Results are never applied.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import datetime, timezone

from aura_common.adapters.logs import event
from aura_common.config import ConfigError

log = logging.getLogger("aura.optimize")


def build_scheduler(cron: str, job: Callable[[], object], source: str):
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    try:
        trigger = CronTrigger.from_crontab(cron, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(source, "schedules.optimizer_cron", f"invalid cron expression {cron!r}: {exc}") from None
    sched = BlockingScheduler(timezone="UTC")
    sched.add_job(job, trigger, id="optimize", max_instances=1, coalesce=True, misfire_grace_time=3600)
    return sched, trigger


def serve(cron: str, job: Callable[[], int], source: str) -> int:
    def guarded() -> None:
        try:
            code = job()
            if code:
                event(log, "OPTIMIZE_FAILED", exit_code=code)
        except Exception as exc:  # the service outlives a failed run
            event(log, "OPTIMIZE_FAILED", error=f"{type(exc).__name__}: {exc}")

    sched, trigger = build_scheduler(cron, guarded, source)

    def stop(signum, _frame) -> None:
        event(log, "OPTIMIZE_SERVICE", state="stopping", signal=signal.Signals(signum).name)
        sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    first = trigger.get_next_fire_time(None, datetime.now(timezone.utc))
    event(log, "OPTIMIZE_SERVICE", state="started", cron=cron, next_run=first.isoformat() if first else "-")
    sched.start()  # blocks until shutdown
    return 0
