"""End of day on Celery: one task per chunk, an `advance` task that moves a run to its next step.

More worker processes (on more machines, all pointed at the same broker and database)
take more chunks of a step at once; the chunk row lock keeps each chunk to one of them.
"""

import datetime

from celery import shared_task

from apps.core.calendar import business_date_today

from .models import EodRun
from .pipeline import chunk_execute, dates_due, pending_chunks, run_finish, run_prepare


def _date(value) -> datetime.date:
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


@shared_task(name="eod.chunk", acks_late=True)
def eod_chunk(chunk_id: int, run_id: int, through: str) -> None:
    chunk_execute(chunk_id)
    run = EodRun.objects.get(pk=run_id)
    step, _ = pending_chunks(run)
    if step != run.step:  # this step is finished: move on (only one advance wins the move, see below)
        eod_advance.delay(run_id, through)


@shared_task(name="eod.advance")
def eod_advance(run_id: int, through: str, resume: bool = False) -> str:
    """Dispatch the chunks of the run's first unfinished step; when none is left, finish and go to the next date.

    Several chunk tasks may see their step finish at once; only the advance that moves the run's
    `step` dispatches, so chunks are not sent twice. `resume` re-sends the current step's pending
    chunks (those a killed worker never finished).
    """
    run = EodRun.objects.get(pk=run_id)
    step, ids = pending_chunks(run)
    if step is not None:
        moved = EodRun.objects.filter(pk=run.pk).exclude(step=step).update(step=step)
        if not (moved or resume):
            return f"{run.business_date} {step}: already dispatched"
        for chunk_id in ids:
            eod_chunk.delay(chunk_id, run.pk, through)
        return f"{run.business_date} {step}: {len(ids)} chunks dispatched"
    if not run_finish(run):
        return f"{run.business_date} already completed"
    from apps.notifications.tasks import outbox_dispatch

    outbox_dispatch.delay()
    if run.business_date < _date(through):
        eod_catch_up.delay(through)
    return f"{run.business_date} completed"


@shared_task(name="eod.catch_up")
def eod_catch_up(through: str | None = None) -> str:
    """Start (or resume) the earliest date still to run, up to `through` (today's business date by default)."""
    target = _date(through) if through else business_date_today()
    due = dates_due(through=target)
    if not due:
        return "up to date"
    run = run_prepare(business_date=due[0])
    eod_advance.delay(run.pk, target.isoformat(), resume=True)
    return f"{run.business_date} started"
