"""Posting an end-of-day chunk's aggregate to the general ledger.

EOD entries take the balance-row locks (in account-id order, inside the posting call) but
not the lender position lock: they check no limit, and a chunk already holds row locks on
its loans, which a real-time repayment takes only after the position lock — taking the
position lock here would invert the global order. A provision committing just after a
drawdown's cap check is the same as the drawdown coming first: the breach rules apply.
"""

import datetime

from apps.accounts.models import Lender
from apps.ledger.models import EntryKind  # noqa: F401  (re-exported for step modules)
from apps.ledger.posting import Line, post_locked


def eod_entry_post(*, lender_id: int, business_date: datetime.date, step: str, lo: int, lines: list[Line],
                   kind: str, description: str) -> None:
    """One entry per lender, step and chunk: reference eod:<date>:<step>:<first loan id>."""
    if not lines:
        return
    lender = Lender.objects.get(pk=lender_id)
    post_locked(lender=lender, reference=f"eod:{business_date.isoformat()}:{step}:{lo}", lines=lines, kind=kind,
                business_date=business_date, actor="system:eod", description=description)

