"""What a step function receives: one chunk of loan ids for one business date."""

import datetime
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chunk:
    """Loans with lo <= id < hi, for business date `business_date`, inside the chunk's transaction.

    A step function takes a Chunk, does set-based SQL over those loans (never a Python loop
    over loans), and returns how many rows it changed. It must be idempotent: run again for
    the same date it changes nothing (the pipeline also marks each chunk done in the same
    transaction, so a chunk normally runs once).
    """

    run_id: int
    business_date: datetime.date
    lo: int
    hi: int
    # The pipeline collects the chunk's GL entries here and posts them together just before its commit
    # (apps/eod/posting.py); a Chunk made without a list (a test driving one step) posts each at once.
    entries: list | None = field(default=None, compare=False)
