"""Daily accrual of scheduled interest and fees into the sub-ledger and the general ledger.

An installment's interest (and fee) is spread over the days of its period: by date D the
cumulative accrued amount is quantize(due × days elapsed ÷ days in period), ROUND_HALF_UP.
Accruing day by day therefore posts the differences of a monotone sequence that ends at
exactly the scheduled amount — the daily accruals sum to the schedule to the cent, and
running a date twice (or an earlier date after a later one) posts nothing.
"""

import datetime
from decimal import Decimal

from django.db import connection, transaction

from apps.core.db import prepared_fetchall
from apps.core.money import quantize
from apps.ledger.errors import DuplicateReference
from apps.ledger.locks import lender_position_lock
from apps.ledger.models import Acct, EntryKind, JournalEntry
from apps.ledger.posting import cr, dr, post_locked

from .models import Loan, LoanInstallment, PenaltyAccrual

ZERO = Decimal("0.00")


def accrued_through(*, due: Decimal, period_start: datetime.date, period_end: datetime.date,
                    through: datetime.date) -> Decimal:
    """How much of `due`, spread evenly over (period_start, period_end], has accrued by the end of `through`."""
    days = (period_end - period_start).days
    if days <= 0:  # an accelerated installment falls due at once
        return due
    elapsed = min(max((through - period_start).days, 0), days)
    return due if elapsed == days else quantize(due * elapsed / days)


# Interest and fees, set-based over loans lo <= id < hi: each installment's accrued amount moves up to
# repayments_accrued_through (migrations 0004/0009, the SQL twin of accrued_through) for its period, which
# starts at the previous installment's due date (the loan's start for the first). Only installments with
# something to accrue are read. Only performing loans accrue: a defaulted loan is non-accrual.
#
# Optimistic first: the UPDATE applies only where the row still holds what was read, so a row a
# concurrent repayment changed in between is skipped (PostgreSQL re-checks the condition on the newest
# row version); if any were, the locking form (FOR UPDATE before reading) finishes them. Either way
# nothing is accrued twice, and the common night takes no extra row locks. Each loan that accrued gets its row for
# the night (NightlyAccrual: the timeline's record; the GL entry is the chunk's, eod:<date>:<step>:<lo>).
_CANDIDATES = """
    SELECT i.id, l.merchant_id, i.interest_accrued AS old_i, i.fee_accrued AS old_f,
           i.interest_due, i.fee_due, i.due_date,
           repayments_accrued_through(i.interest_due, coalesce(p.due_date, l.start_date), i.due_date, %(d)s) AS ti,
           repayments_accrued_through(i.fee_due, coalesce(p.due_date, l.start_date), i.due_date, %(d)s) AS tf
    FROM repayments_loan l
    JOIN repayments_loaninstallment i ON i.loan_id = l.id
    LEFT JOIN repayments_loaninstallment p ON p.loan_id = i.loan_id AND p.number = i.number - 1
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND i.loan_id >= %(lo)s AND i.loan_id < %(hi)s
      AND l.state IN ('active', 'overdue') AND coalesce(p.due_date, l.start_date) < %(d)s
      AND (repayments_accrued_through(i.interest_due, coalesce(p.due_date, l.start_date), i.due_date, %(d)s)
           > i.interest_accrued
           OR repayments_accrued_through(i.fee_due, coalesce(p.due_date, l.start_date), i.due_date, %(d)s) > i.fee_accrued)
"""

_INTEREST_SQL = """
WITH cand AS ({candidates}{lock}),
upd AS (
    UPDATE repayments_loaninstallment i SET interest_accrued = greatest(c.ti, c.old_i), fee_accrued = greatest(c.tf, c.old_f)
    FROM cand c
    WHERE i.id = c.id AND i.loan_id >= %(lo)s AND i.loan_id < %(hi)s
      AND i.interest_accrued = c.old_i AND i.fee_accrued = c.old_f
      AND i.interest_due = c.interest_due AND i.fee_due = c.fee_due AND i.due_date = c.due_date
    RETURNING i.loan_id, c.merchant_id, greatest(c.ti - c.old_i, 0) AS di, greatest(c.tf - c.old_f, 0) AS df
),
nightly AS (
    INSERT INTO repayments_nightlyaccrual AS a (loan_id, business_date, interest, fee, penalty, chunk_start)
    SELECT u.loan_id, %(d)s, sum(u.di), sum(u.df), 0, %(lo)s FROM upd u GROUP BY u.loan_id HAVING sum(u.di + u.df) > 0
    ON CONFLICT (loan_id, business_date) DO UPDATE SET interest = a.interest + excluded.interest, fee = a.fee + excluded.fee
)
SELECT m.lender_id, sum(u.di), sum(u.df), count(*)
FROM upd u JOIN merchants_merchant m ON m.id = u.merchant_id GROUP BY m.lender_id
UNION ALL SELECT NULL, NULL, NULL, (SELECT count(*) FROM cand)
"""

# Penalty interest on overdue principal for the days since the loan's last penalty accrual: principal is
# overdue from the day after its due date; one day's penalty is rounded to the cent and then multiplied,
# so the total never depends on how the days were split between runs (a catch-up, a nightly EOD or a
# replay after a reversal). Each (installment, period) is recorded so a reversal can take it back.
_PENALTY_SQL = """
WITH loans AS (
    SELECT l.id, l.merchant_id, l.penalty_annual_rate AS rate, coalesce(l.penalty_accrued_through, l.start_date) AS since,
           CASE l.day_count WHEN 'ACT/365' THEN 365 ELSE 360 END AS basis
    FROM repayments_loan l
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.state IN ('active', 'overdue') AND l.penalty_annual_rate > 0
      AND coalesce(l.penalty_accrued_through, l.start_date) < %(d)s
      AND EXISTS (SELECT 1 FROM repayments_loaninstallment o
                  WHERE o.loan_id = l.id AND o.loan_id >= %(lo)s AND o.loan_id < %(hi)s
                    AND o.due_date < %(d)s AND o.principal_paid < o.principal_due)
    FOR UPDATE OF l
),
due AS (
    SELECT i.id AS installment_id, l.id AS loan_id, l.merchant_id, greatest(l.since, i.due_date) AS first_day,
           round((i.principal_due - i.principal_paid) * l.rate / l.basis, 2) AS per_day
    FROM loans l JOIN repayments_loaninstallment i ON i.loan_id = l.id
    WHERE i.loan_id >= %(lo)s AND i.loan_id < %(hi)s AND i.principal_paid < i.principal_due AND i.due_date < %(d)s
),
ins AS (
    INSERT INTO repayments_penaltyaccrual (loan_id, installment_id, period_start, period_end, amount)
    SELECT loan_id, installment_id, first_day, %(d)s, per_day * (%(d)s - first_day)
    FROM due WHERE per_day > 0 AND first_day < %(d)s
    RETURNING installment_id, loan_id, amount
),
nightly AS (
    INSERT INTO repayments_nightlyaccrual AS a (loan_id, business_date, interest, fee, penalty, chunk_start)
    SELECT i.loan_id, %(d)s, 0, 0, sum(i.amount), %(lo)s FROM ins i GROUP BY i.loan_id
    ON CONFLICT (loan_id, business_date) DO UPDATE SET penalty = a.penalty + excluded.penalty
),
per_installment AS (
    SELECT installment_id, sum(amount) AS amount FROM ins GROUP BY installment_id
),
upd AS (
    UPDATE repayments_loaninstallment i SET penalty_accrued = i.penalty_accrued + p.amount
    FROM per_installment p WHERE i.id = p.installment_id AND i.loan_id >= %(lo)s AND i.loan_id < %(hi)s
    RETURNING i.loan_id, p.amount
),
through AS (
    UPDATE repayments_loan l SET penalty_accrued_through = %(d)s
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.id IN (SELECT DISTINCT loan_id FROM upd)
    RETURNING l.id, l.merchant_id
)
SELECT m.lender_id, sum(u.amount), count(DISTINCT u.loan_id)
FROM upd u JOIN through t ON t.id = u.loan_id JOIN merchants_merchant m ON m.id = t.merchant_id
GROUP BY m.lender_id ORDER BY m.lender_id
"""


def interest_accrue_range(*, lo: int, hi: int, through: datetime.date) -> dict[int, tuple[Decimal, Decimal, int]]:
    """Accrue interest and fees of loans lo <= id < hi through a date: {lender id: (interest, fees, installments)}.

    Each chunk's statement is planned for its own range; one loan accrues through repayments_loan_accrue instead.
    """
    params = {"lo": lo, "hi": hi, "d": through}
    totals: dict[int, tuple[Decimal, Decimal, int]] = {}
    for lock in ("", "\n    FOR UPDATE OF i"):  # optimistic, then locking for whatever a concurrent writer touched
        rows = _fetchall(_INTEREST_SQL.format(candidates=_CANDIDATES, lock=lock), params)
        candidates = next(count for lender_id, _, _, count in rows if lender_id is None)
        for lender_id, interest, fee, count in rows:
            if lender_id is not None:
                before = totals.get(lender_id, (ZERO, ZERO, 0))
                totals[lender_id] = (before[0] + interest, before[1] + fee, before[2] + count)
        if sum(count for lender_id, _, _, count in rows if lender_id is not None) == candidates:
            break
    return totals


def penalties_accrue_range(*, lo: int, hi: int, through: datetime.date) -> dict[int, tuple[Decimal, int]]:
    """Accrue penalty interest of loans lo <= id < hi through a date: {lender id: (penalty, loans)}."""
    rows = _fetchall(_PENALTY_SQL, {"lo": lo, "hi": hi, "d": through})
    return {row[0]: (row[1], row[2]) for row in rows}


def _fetchall(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def accrual_lines(*, interest: Decimal = ZERO, fee: Decimal = ZERO, penalty: Decimal = ZERO) -> list:
    """The GL lines of an accrual: receivable up, income up."""
    lines = []
    if penalty:
        lines += [dr(Acct.LOANS_PENALTIES, penalty), cr(Acct.PENALTY_INCOME, penalty)]
    if interest:
        lines += [dr(Acct.LOANS_INTEREST, interest), cr(Acct.INTEREST_INCOME, interest)]
    if fee:
        lines += [dr(Acct.LOANS_FEES, fee), cr(Acct.FEE_INCOME, fee)]
    return lines


@transaction.atomic
def loan_accrue(*, loan: Loan, through: datetime.date, actor) -> JournalEntry | None:
    """Bring one loan's interest, fee and penalty accruals up to `through`: one journal entry, or None.

    The same SQL end of day runs over chunks of loans, here for one loan, posted on its own.
    """
    lender_position_lock(loan.merchant.lender)
    Loan.objects.select_for_update().filter(pk=loan.pk).values_list("pk").get()
    return loan_accrual_post(loan=loan, through=through, lines=loan_accrual_lines(loan=loan, through=through), actor=actor)


def loan_accrual_lines(*, loan: Loan, through: datetime.date) -> list:
    """Accrue one loan (locked by the caller) in the sub-ledger; the GL lines that must post with it.

    repayments_loan_accrue (migration 0010) is the one-loan form of end of day's statements, shared with the
    one-statement repayment; planned once per connection.
    """
    interest, fee, penalty = prepared_fetchall("SELECT * FROM repayments_loan_accrue(%s, %s)", [loan.pk, through])[0]
    return accrual_lines(interest=interest, fee=fee, penalty=penalty)


def accrual_reference_prefix(*, loan_id: int) -> str:
    return f"accrual:{loan_id}:"


def accrual_reference(*, loan_id: int, through: datetime.date) -> str:
    return f"{accrual_reference_prefix(loan_id=loan_id)}{through.isoformat()}"


def accrual_description(*, loan_id: int, through: datetime.date) -> str:
    return f"Accrual for loan #{loan_id} through {through}"


def loan_accrual_post(*, loan: Loan, through: datetime.date, lines: list, actor) -> JournalEntry | None:
    """Post what loan_accrual_lines accrued, in the same transaction: reference accrual:<loan>:<date>[:<n>]."""
    if not lines:
        return None
    lender = loan.merchant.lender
    reference = accrual_reference(loan_id=loan.pk, through=through)
    kwargs = {"lender": lender, "lines": lines, "kind": EntryKind.ACCRUAL, "business_date": through, "actor": actor,
              "description": accrual_description(loan_id=loan.pk, through=through)}
    try:
        return post_locked(reference=reference, **kwargs)
    except DuplicateReference:  # re-accrual of a date after a reversal took penalty back
        earlier = JournalEntry.objects.filter(lender=lender, reference__startswith=reference).count()
        return post_locked(reference=f"{reference}:{earlier + 1}", **kwargs)


def penalties_unwind(*, loan: Loan, after: datetime.date, actor, reference: str) -> None:
    """Take back the penalty accrued for days after `after` (the caller holds the loan's locks).

    A row whose days straddle `after` keeps its days up to it: its amount is one day's penalty times its days
    (repayments_loan_accrue), so the days after are taken back exactly and the re-accrual starts at `after`.
    """
    rows = list(PenaltyAccrual.objects.filter(loan=loan, period_end__gt=after))
    taken = {r.pk: _penalty_after(r, after) for r in rows}
    total = sum(taken.values(), ZERO)
    if not total:
        return
    post_locked(lender=loan.merchant.lender, reference=reference, kind=EntryKind.ACCRUAL, actor=actor, business_date=after,
                description=f"Penalty on loan #{loan.pk} after {after} taken back for re-accrual",
                lines=[dr(Acct.PENALTY_INCOME, total), cr(Acct.LOANS_PENALTIES, total)])
    by_installment: dict[int, Decimal] = {}
    for r in rows:
        by_installment[r.installment_id] = by_installment.get(r.installment_id, ZERO) + taken[r.pk]
    for installment in LoanInstallment.objects.select_for_update().filter(pk__in=by_installment):
        installment.penalty_accrued -= by_installment[installment.pk]
        installment.save(update_fields=["penalty_accrued"])
    kept = [r for r in rows if r.period_start < after]
    for r in kept:
        r.amount, r.period_end = r.amount - taken[r.pk], after
    PenaltyAccrual.objects.bulk_update(kept, ["amount", "period_end"])
    # Derived rows; the journal keeps the history.
    PenaltyAccrual.objects.filter(pk__in=[r.pk for r in rows if r.period_start >= after]).delete()
    Loan.objects.filter(pk=loan.pk).update(penalty_accrued_through=after)


def _penalty_after(row: PenaltyAccrual, after: datetime.date) -> Decimal:
    """The part of a penalty accrual for its days after `after`."""
    if row.period_start >= after:
        return row.amount
    return quantize(row.amount * (row.period_end - after).days / (row.period_end - row.period_start).days)
