"""Running end of day: prepare a run, execute its chunks phase by phase, finish, catch up.

A run for business date D holds one chunk row per (step, loan-id range). The steps that look
only at a chunk's own loans form a phase: one task runs a loan range's pending steps of the
phase in DESIGN.md order, in one transaction that locks their chunk rows (SKIP LOCKED, so a
duplicate task just returns), does the set-based work and marks each row done — all or
nothing. A barrier step (steps.BARRIERS) starts a new phase, which waits for every chunk
before it. So a worker killed mid-chunk leaves that chunk pending, and the next `advance` (a rerun, the admin's Resume, the
nightly task) dispatches exactly the chunks still pending: each chunk's work lands once.

Dates run in order: D runs only after D − 1 completed (when any run exists), and a
catch-up runs every missed date up to the target.
"""

import datetime
import time
from importlib import import_module

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from apps.collections.setup import collections_setup_ensure
from apps.core.errors import Conflict

from .chunks import Chunk
from .models import EodChunk, EodRun, RunState
from .posting import eod_entries_post
from .steps import BARRIERS, STEPS

STEP_NAMES = [name for name, _ in STEPS]


def _phases() -> list[list[str]]:
    phases: list[list[str]] = []
    for name in STEP_NAMES:
        if not phases or name in BARRIERS:
            phases.append([])
        phases[-1].append(name)
    return phases


PHASES = _phases()
PHASE_OF = {name: n for n, phase in enumerate(PHASES) for name in phase}


def _functions(step: str):
    for path in dict(STEPS)[step]:
        module, name = path.rsplit(".", 1)
        yield getattr(import_module(module), name)


def dates_due(*, through: datetime.date) -> list[datetime.date]:
    """The business dates still to run, in order, up to `through` (just `through` on a fresh system)."""
    last = EodRun.objects.filter(state=RunState.COMPLETED).aggregate(last=Max("business_date"))["last"]
    unfinished = EodRun.objects.exclude(state=RunState.COMPLETED).order_by("business_date").values_list(
        "business_date", flat=True).first()
    start = unfinished or (last + datetime.timedelta(days=1) if last else through)
    return [start + datetime.timedelta(days=n) for n in range((through - start).days + 1)]


def run_prepare(*, business_date: datetime.date, actor=None, chunk_size: int | None = None) -> EodRun:
    """The run for a date, with its chunk rows; created on first call, returned as it is afterwards."""
    due = dates_due(through=business_date)
    if due and due[0] < business_date:
        raise Conflict(f"End of day for {due[0]} has not completed; run the dates in order (catch up first).",
                       code="EOD_OUT_OF_ORDER")
    existing = EodRun.objects.filter(business_date=business_date).first()
    if existing:
        if existing.state == RunState.FAILED:  # resuming after the cause was fixed
            EodRun.objects.filter(pk=existing.pk).update(state=RunState.RUNNING, error="")
            existing.refresh_from_db()
        return existing
    collections_setup_ensure()
    size = chunk_size or settings.EOD_CHUNK_SIZE
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM repayments_loan")
        id_min, id_max = cursor.fetchone()
    try:
        with transaction.atomic():
            run = EodRun.objects.create(business_date=business_date, chunk_size=size, id_min=id_min, id_max=id_max,
                                        started_by=actor if getattr(actor, "pk", None) else None)
            EodChunk.objects.bulk_create([EodChunk(run=run, step=step, lo=lo, hi=min(lo + size, id_max + 1))
                                          for step in STEP_NAMES for lo in range(id_min, id_max + 1, size)])
    except IntegrityError:  # another process prepared it first
        return EodRun.objects.get(business_date=business_date)
    return run


def chunk_execute(chunk_id: int) -> bool:
    """Run a chunk's pending steps of its phase, if unlocked and the phase's turn has come; True if it ran.

    `chunk_id` is any pending chunk row of the (run, phase, loan range). It runs in one transaction:
    a chunk that raises rolls back whole, the run is marked failed with the error (shown in the
    back-office) and stays resumable.
    """
    try:
        return _chunk_execute(chunk_id)
    except Exception as exc:
        run_id = EodChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
        EodRun.objects.filter(pk=run_id).update(state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000])
        raise


def _chunk_execute(chunk_id: int) -> bool:
    with transaction.atomic():
        first = EodChunk.objects.select_related("run").filter(pk=chunk_id).first()
        if first is None:
            return False
        phase = PHASE_OF[first.step]
        if EodChunk.objects.filter(run_id=first.run_id, done=False, step__in=STEP_NAMES[:STEP_NAMES.index(PHASES[phase][0])]
                                   ).exists():
            return False  # an earlier phase is not finished
        rows = list(EodChunk.objects.select_for_update(skip_locked=True).filter(
            run_id=first.run_id, lo=first.lo, step__in=PHASES[phase], done=False))
        pending = EodChunk.objects.filter(run_id=first.run_id, lo=first.lo, step__in=PHASES[phase], done=False).count()
        if not rows or len(rows) < pending:
            return False  # done already, or another worker holds it
        with connection.cursor() as cursor:  # short set-based statements: compiling them costs more than it saves
            cursor.execute("SET LOCAL jit = off")
        chunk = Chunk(run_id=first.run_id, business_date=first.run.business_date, lo=first.lo, hi=first.hi, entries=[])
        for row in sorted(rows, key=lambda r: STEP_NAMES.index(r.step)):
            started = time.monotonic()
            changed = sum(function(chunk) for function in _functions(row.step))
            EodChunk.objects.filter(pk=row.pk).update(done=True, rows=changed, seconds=time.monotonic() - started,
                                                      finished_at=timezone.now())
        eod_entries_post(chunk)  # last: the lender's balance rows are shared with every other chunk and repayment
    return True


def pending_chunks(run: EodRun) -> tuple[str | None, list[int]]:
    """The first phase with pending chunks (named by its first step) and one pending chunk id per loan range."""
    pending = list(EodChunk.objects.filter(run=run, done=False).values_list("step", "lo", "id"))
    for phase in PHASES:
        first_by_lo: dict[int, tuple[int, int]] = {}
        for step, lo, chunk_id in pending:
            if step in phase:
                order = phase.index(step)
                if lo not in first_by_lo or order < first_by_lo[lo][0]:
                    first_by_lo[lo] = (order, chunk_id)
        if first_by_lo:
            return phase[0], [first_by_lo[lo][1] for lo in sorted(first_by_lo)]
    return None, []


def run_finish(run: EodRun) -> bool:
    """Mark the run completed once no chunk is pending; True only for the call that completed it."""
    if EodChunk.objects.filter(run=run, done=False).exists():
        return False
    return bool(EodRun.objects.filter(pk=run.pk).exclude(state=RunState.COMPLETED).update(
        state=RunState.COMPLETED, step="", error="", finished_at=timezone.now()))


def run_inline(run: EodRun) -> EodRun:
    """Execute every pending chunk of the run in this process, phase by phase (tests, `run_eod --inline`)."""
    while True:
        step, ids = pending_chunks(run)
        if step is None:
            break
        EodRun.objects.filter(pk=run.pk).update(step=step)
        for chunk_id in ids:
            chunk_execute(chunk_id)
        if pending_chunks(run) == (step, ids):  # nothing moved: a chunk is locked by another worker
            raise Conflict(f"End of day {run.business_date}: chunks of {step} are held by another worker.",
                           code="EOD_BUSY")
    run_finish(run)
    run.refresh_from_db()
    return run


def catch_up_inline(*, through: datetime.date, actor=None, chunk_size: int | None = None) -> list[EodRun]:
    """Run every missed date up to `through`, in order, in this process."""
    return [run_inline(run_prepare(business_date=d, actor=actor, chunk_size=chunk_size)) for d in dates_due(through=through)]


def run_progress(run: EodRun) -> list[dict]:
    """Per step: chunks done and total, rows changed, seconds spent."""
    stats = {row["step"]: row for row in EodChunk.objects.filter(run=run).values("step").annotate(
        total=Count("id"), done=Count("id", filter=Q(done=True)), rows=Sum("rows"), seconds=Sum("seconds"))}
    return [{"step": step, "total": stats.get(step, {}).get("total", 0), "done": stats.get(step, {}).get("done", 0),
             "rows": stats.get(step, {}).get("rows") or 0, "seconds": stats.get(step, {}).get("seconds") or 0.0}
            for step in STEP_NAMES]
