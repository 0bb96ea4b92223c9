"""Posting an end-of-day chunk's aggregates to the general ledger.

EOD entries check no limit and take no lender position lock: a chunk already holds row locks
on its loans, which a real-time repayment takes only after the position lock, so taking it
here would invert the global order. A provision committing just after a drawdown's cap check
is the same as the drawdown coming first: the breach rules apply.

Balance rows are the one thing every chunk and every repayment of a lender shares, and each
posting locks its own in account-id order — but a chunk posts several entries (interest,
penalty, provisions), which together would lock them out of order, and would hold the first
from early in the chunk to its commit. So the pipeline collects a chunk's entries and posts
them at the very end, after locking the union of their balance rows in account-id order.
"""

from dataclasses import dataclass

from apps.accounts.models import Lender
from apps.ledger.locks import balance_rows_lock
from apps.ledger.models import EntryKind  # noqa: F401  (re-exported for step modules)
from apps.ledger.posting import Line, post_locked

from .chunks import Chunk


@dataclass(frozen=True)
class _Entry:
    lender_id: int
    step: str
    lines: list[Line]
    kind: str
    description: str


def eod_entry_reference(*, business_date, step: str, first_loan: int) -> str:
    """The reference of a chunk's entry for one step: what a loan's nightly accrual row points back to."""
    return f"eod:{business_date.isoformat()}:{step}:{first_loan}"


def eod_entry_post(*, chunk: Chunk, lender_id: int, step: str, lines: list[Line], kind: str, description: str) -> None:
    """One entry per lender, step and chunk (reference eod:<date>:<step>:<first loan id>), posted with the chunk's others."""
    if not lines:
        return
    entry = _Entry(lender_id=lender_id, step=step, lines=lines, kind=kind, description=description)
    if chunk.entries is None:
        _entries_post(chunk, [entry])
    else:
        chunk.entries.append(entry)


def eod_entries_post(chunk: Chunk) -> None:
    """Post the entries the chunk's steps collected (the pipeline calls this last in the chunk's transaction)."""
    if chunk.entries:
        _entries_post(chunk, chunk.entries)
        chunk.entries.clear()


def _entries_post(chunk: Chunk, entries: list[_Entry]) -> None:
    for lender in Lender.objects.filter(pk__in={e.lender_id for e in entries}).order_by("pk"):
        mine = [e for e in entries if e.lender_id == lender.pk]
        balance_rows_lock(lender=lender, codes={line.account for e in mine for line in e.lines})
        for e in mine:
            post_locked(lender=lender, lines=e.lines,
                        reference=eod_entry_reference(business_date=chunk.business_date, step=e.step, first_loan=chunk.lo),
                        kind=e.kind, business_date=chunk.business_date, actor="system:eod", description=e.description)
