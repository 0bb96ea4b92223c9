"""The loan-book steps of end of day, each set-based SQL over one chunk of loan ids.

Order (DESIGN.md, End of day): accrue interest → accrue penalties → mark installments →
DPD and bucket → loan transitions → provisions → margin calls. Every statement is written so
running it again for the same date changes nothing: targets are cumulative, marks and
transitions touch only rows whose value differs, provisions post only the difference.
"""

from decimal import Decimal

from django.db import connection

from apps.eod.chunks import Chunk
from apps.eod.posting import EntryKind, eod_entry_post
from apps.ledger.models import Acct
from apps.ledger.posting import cr, dr

from .accrual import accrual_lines, interest_accrue_range, penalties_accrue_range
from .collateral import margin_calls_enforce as margin_calls_enforce_service

ZERO = Decimal("0.00")


def interest_accrue(chunk: Chunk) -> int:
    """Step 1: scheduled interest and fees accrue to the business date; one aggregated GL entry per lender."""
    rows = 0
    for lender_id, (interest, fee, count) in interest_accrue_range(lo=chunk.lo, hi=chunk.hi, through=chunk.business_date).items():
        eod_entry_post(chunk=chunk, lender_id=lender_id, step="interest",
                       lines=accrual_lines(interest=interest, fee=fee), kind=EntryKind.ACCRUAL,
                       description=f"Interest and fee accrual, loans {chunk.lo}–{chunk.hi - 1}")
        rows += count
    return rows


def penalties_accrue(chunk: Chunk) -> int:
    """Step 2: penalty interest on overdue principal."""
    rows = 0
    for lender_id, (penalty, count) in penalties_accrue_range(lo=chunk.lo, hi=chunk.hi, through=chunk.business_date).items():
        eod_entry_post(chunk=chunk, lender_id=lender_id, step="penalty",
                       lines=accrual_lines(penalty=penalty), kind=EntryKind.ACCRUAL,
                       description=f"Penalty accrual, loans {chunk.lo}–{chunk.hi - 1}")
        rows += count
    return rows


def _execute(sql: str, chunk: Chunk, **extra) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"lo": chunk.lo, "hi": chunk.hi, "d": chunk.business_date, **extra})
        return cursor.fetchall() if cursor.description else []


# An installment is paid when nothing of it is left, due when it falls due today, overdue after that.
_MARK_SQL = """
WITH marked AS (
    SELECT i.id, CASE
        WHEN i.principal_paid >= i.principal_due AND i.interest_paid >= i.interest_due AND i.fee_paid >= i.fee_due
             AND i.penalty_paid >= i.penalty_accrued THEN 'paid'
        WHEN i.due_date < %(d)s THEN 'overdue'
        WHEN i.due_date = %(d)s THEN 'due'
        ELSE 'scheduled' END AS status
    FROM repayments_loaninstallment i JOIN repayments_loan l ON l.id = i.loan_id
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND i.loan_id >= %(lo)s AND i.loan_id < %(hi)s
      AND l.state IN ('active', 'overdue', 'defaulted', 'paid_off') AND i.status <> 'paid'
),
upd AS (
    UPDATE repayments_loaninstallment i SET status = m.status FROM marked m
    WHERE i.id = m.id AND i.loan_id >= %(lo)s AND i.loan_id < %(hi)s AND i.status <> m.status RETURNING 1
)
SELECT count(*) FROM upd
"""


def installments_mark(chunk: Chunk) -> int:
    """Step 3: mark installments due (today) or overdue (past their due date, unpaid), or paid."""
    return _execute(_MARK_SQL, chunk)[0][0]


# DPD counts from the oldest installment with principal, interest or fees unpaid after its due date:
# overdue_since is the day after that due date and DPD on D is D − overdue_since + 1.
_DELINQUENCY_SQL = """
WITH oldest AS (
    SELECT i.loan_id, min(i.due_date) + 1 AS since
    FROM repayments_loaninstallment i
    WHERE i.loan_id >= %(lo)s AND i.loan_id < %(hi)s AND i.due_date < %(d)s
      AND (i.principal_paid < i.principal_due OR i.interest_paid < i.interest_due OR i.fee_paid < i.fee_due)
    GROUP BY i.loan_id
),
graded AS (
    SELECT l.id, o.since, CASE
        WHEN o.since IS NULL THEN 'current'
        WHEN %(d)s - o.since + 1 <= 30 THEN '1-30'
        WHEN %(d)s - o.since + 1 <= 60 THEN '31-60'
        WHEN %(d)s - o.since + 1 <= 90 THEN '61-90'
        ELSE '90+' END AS bucket
    FROM repayments_loan l LEFT JOIN oldest o ON o.loan_id = l.id
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.state IN ('active', 'overdue', 'defaulted')
),
upd AS (
    UPDATE repayments_loan l SET overdue_since = g.since, bucket = g.bucket FROM graded g
    WHERE l.id = g.id AND l.id >= %(lo)s AND l.id < %(hi)s
      AND (l.overdue_since IS DISTINCT FROM g.since OR l.bucket <> g.bucket)
    RETURNING 1
)
SELECT count(*) FROM upd
"""


def delinquency_update(chunk: Chunk) -> int:
    """Step 4: days past due and the delinquency bucket of every live loan."""
    return _execute(_DELINQUENCY_SQL, chunk)[0][0]


# The collections policy in force on D for each lender (defaults when a lender has none).
_POLICY_CTE = """
policy AS (
    SELECT DISTINCT ON (p.lender_id) p.lender_id, p.default_dpd, p.provision_current, p.provision_1_30,
           p.provision_31_60, p.provision_61_90, p.provision_90_plus
    FROM collections_collectionspolicy p WHERE p.effective_from <= %(d)s
    ORDER BY p.lender_id, p.effective_from DESC, p.version DESC
)"""

# Overdue when a loan has DPD, current again when it has none; defaulted at the policy's DPD. Each
# change writes its audit row in the same statement.
_TRANSITIONS_SQL = """
WITH """ + _POLICY_CTE + """,
target AS (
    SELECT l.id, l.state AS from_state, CASE
        WHEN l.overdue_since IS NOT NULL AND %(d)s - l.overdue_since + 1 >= coalesce(p.default_dpd, %(default_dpd)s)
             THEN 'defaulted'
        WHEN l.overdue_since IS NOT NULL THEN 'overdue'
        ELSE 'active' END AS to_state
    FROM repayments_loan l JOIN merchants_merchant m ON m.id = l.merchant_id
    LEFT JOIN policy p ON p.lender_id = m.lender_id
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.state IN ('active', 'overdue')
),
upd AS (
    UPDATE repayments_loan l SET state = t.to_state,
        defaulted_on = CASE WHEN t.to_state = 'defaulted' THEN %(d)s ELSE l.defaulted_on END
    FROM target t WHERE l.id = t.id AND l.id >= %(lo)s AND l.id < %(hi)s AND t.to_state <> t.from_state
    RETURNING l.id, t.from_state, t.to_state
),
audit AS (
    INSERT INTO core_auditevent (at, actor_label, action, subject_type, subject_id, from_state, to_state, reason, data)
    SELECT now(), 'system:eod', CASE to_state WHEN 'overdue' THEN 'mark_overdue' WHEN 'active' THEN 'cure' ELSE 'default' END,
           'repayments.loan', id::text, from_state, to_state,
           CASE to_state WHEN 'overdue' THEN 'Payment overdue' WHEN 'active' THEN 'Overdue amounts repaid'
                ELSE 'Days past due reached the default threshold' END,
           jsonb_build_object('business_date', %(d)s::text)
    FROM upd RETURNING 1
)
SELECT count(*) FROM audit
"""


def loan_transitions(chunk: Chunk) -> int:
    """Step 5: active ↔ overdue → defaulted, audited (set-based rather than one transition_apply per loan)."""
    return _execute(_TRANSITIONS_SQL, chunk, default_dpd=90)[0][0]


# The allowance each loan needs: the lender's share of the outstanding principal × its bucket's rate.
# Only loans whose allowance changes are locked and written; the lender's GL moves by the net change.
_PROVISIONS_SQL = """
WITH """ + _POLICY_CTE + """,
needed AS (
    SELECT l.id, m.lender_id, round(
        (l.lender_principal - round(coalesce(paid.principal, 0) * l.lender_principal / l.principal, 2))
        * CASE WHEN l.state NOT IN ('active', 'overdue', 'defaulted') THEN 0
               WHEN l.bucket = 'current' THEN coalesce(p.provision_current, 0)
               WHEN l.bucket = '1-30' THEN coalesce(p.provision_1_30, 0.05)
               WHEN l.bucket = '31-60' THEN coalesce(p.provision_31_60, 0.25)
               WHEN l.bucket = '61-90' THEN coalesce(p.provision_61_90, 0.50)
               ELSE coalesce(p.provision_90_plus, 1) END, 2) AS amount
    FROM repayments_loan l JOIN merchants_merchant m ON m.id = l.merchant_id
    LEFT JOIN policy p ON p.lender_id = m.lender_id
    LEFT JOIN LATERAL (SELECT sum(i.principal_paid) AS principal FROM repayments_loaninstallment i
                       WHERE i.loan_id = l.id) paid ON true
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.state <> 'written_off'
      AND (l.provision > 0 OR (l.bucket <> 'current' AND l.state IN ('active', 'overdue', 'defaulted'))
           OR coalesce(p.provision_current, 0) > 0)
),
locked AS (
    SELECT l.id, n.lender_id, n.amount - l.provision AS delta
    FROM repayments_loan l JOIN needed n ON n.id = l.id
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.provision <> n.amount
    FOR UPDATE OF l
),
upd AS (
    UPDATE repayments_loan l SET provision = l.provision + k.delta FROM locked k
    WHERE l.id = k.id AND l.id >= %(lo)s AND l.id < %(hi)s
    RETURNING k.lender_id, k.delta
)
SELECT lender_id, sum(delta), count(*) FROM upd GROUP BY lender_id ORDER BY lender_id
"""


def provisions_post(chunk: Chunk) -> int:
    """Step 6: provisions by bucket; the net change per lender posts as impairment (or its release)."""
    rows = 0
    for lender_id, delta, count in _execute(_PROVISIONS_SQL, chunk):
        if delta > 0:
            lines = [dr(Acct.IMPAIRMENT_EXPENSE, delta), cr(Acct.LOAN_LOSS_ALLOWANCE, delta)]
        else:
            lines = [dr(Acct.LOAN_LOSS_ALLOWANCE, -delta), cr(Acct.IMPAIRMENT_EXPENSE, -delta)] if delta else []
        eod_entry_post(chunk=chunk, lender_id=lender_id, step="provisions", lines=lines,
                       kind=EntryKind.PROVISION, description=f"Provisions by bucket, loans {chunk.lo}–{chunk.hi - 1}")
        rows += count
    return rows


def margin_calls_enforce(chunk: Chunk) -> int:
    """Step 7a: loans whose margin call passed its deadline uncured accelerate (few: one call at a time)."""
    return margin_calls_enforce_service(as_of=chunk.business_date, loan_ids=(chunk.lo, chunk.hi), actor="system:eod")

