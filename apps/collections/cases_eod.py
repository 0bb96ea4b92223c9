"""Collection cases at end of day: set-based SQL over one chunk of loan ids (apps/eod/chunks.py).

- promises_review: open promises whose date has passed are judged by the money received on the loan
  since they were made: kept (case → resolved) or broken (case → in progress, one more broken promise,
  priority boosted so it climbs the queue again).
- cases_update: a case opens for every overdue or defaulted loan without a live one; a live case whose
  loan is current again resolves (restructured: closed); live cases get their overdue amount, DPD and
  priority refreshed with the policy's formula.
- collectors_assign / legal_referral: the actions of the dunning ladder's steps (apps/eod/steps.py
  STEP_ACTIONS), for the loans whose step fired today.

Every function is idempotent for a business date (a second run changes 0 rows) and writes the audit
rows of the state changes it makes in the same statement (actor "system:eod"), like the loan transitions.
"""

from django.db import connection

from apps.eod.chunks import Chunk

from .models import LIVE_CASE_STATES

ACTOR = "system:eod"
LIVE = "(" + ", ".join(f"'{s}'" for s in LIVE_CASE_STATES) + ")"

# The collections policy in force on D for each lender (a lender without one gets the model defaults).
_POLICY_CTE = """
policy AS (
    SELECT DISTINCT ON (p.lender_id) p.lender_id, p.priority_formula, p.priority_amount_weight, p.priority_dpd_weight,
           p.broken_promise_boost
    FROM collections_collectionspolicy p WHERE p.effective_from <= %(d)s
    ORDER BY p.lender_id, p.effective_from DESC, p.version DESC
)"""

# Everything due before D and unpaid on loan l (the same amount the dunning ladder quotes), and DPD on D.
_OVERDUE_LATERAL = """
LEFT JOIN LATERAL (
    SELECT coalesce(sum((i.principal_due - i.principal_paid) + (i.interest_due - i.interest_paid)
                        + (i.fee_due - i.fee_paid) + (i.penalty_accrued - i.penalty_paid)), 0) AS amount
    FROM repayments_loaninstallment i WHERE i.loan_id = l.id AND i.due_date < %(d)s
) o ON true"""
_DPD = "(CASE WHEN l.overdue_since IS NULL THEN 0 ELSE greatest(%(d)s - l.overdue_since + 1, 0) END)"


def priority_sql(amount: str, dpd: str, broken: str) -> str:
    """The queue priority as SQL, with `p` the policy row: the formula × (1 + boost × broken promises)."""
    return f"""least(round(
        CASE coalesce(p.priority_formula, 'amount_x_dpd')
            WHEN 'weighted' THEN coalesce(p.priority_amount_weight, 1) * ({amount}) + coalesce(p.priority_dpd_weight, 0) * ({dpd})
            ELSE ({amount}) * ({dpd}) END
        * (1 + coalesce(p.broken_promise_boost, 0.25) * ({broken})), 2), 999999999999999999.99)"""


def _audit_insert(source: str, *, action: str, from_state: str, to_state: str, reason: str, data: str,
                  case_id: str = "id") -> str:
    """An INSERT of one audit row per row of `source` (SQL expressions over its columns) about case `case_id`."""
    return f"""
    INSERT INTO core_auditevent (at, actor_label, action, subject_type, subject_id, from_state, to_state, reason, data)
    SELECT now(), '{ACTOR}', {action}, 'collections.collectioncase', {case_id}::text, {from_state}, {to_state}, {reason},
           {data}
    FROM {source} RETURNING 1"""


def _execute(sql: str, chunk: Chunk, **extra) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"lo": chunk.lo, "hi": chunk.hi, "d": chunk.business_date, **extra})
        return cursor.fetchone()[0]


# --- promises ---------------------------------------------------------------------------------

_PROMISES_SQL = f"""
WITH {_POLICY_CTE},
due AS (
    SELECT p.id, c.loan_id, c.lender_id,
           coalesce((SELECT sum(r.amount) FROM repayments_repayment r
                     WHERE r.loan_id = c.loan_id AND r.reversed_at IS NULL), 0) - p.paid_before AS received
    FROM collections_promisetopay p JOIN collections_collectioncase c ON c.id = p.case_id
    WHERE p.state = 'open' AND p.promised_date < %(d)s AND c.loan_id >= %(lo)s AND c.loan_id < %(hi)s
),
judged AS (
    UPDATE collections_promisetopay p
    SET state = CASE WHEN d.received >= p.amount THEN 'kept' ELSE 'broken' END,
        judged_on = %(d)s, received = greatest(d.received, 0)
    FROM due d WHERE p.id = d.id AND p.state = 'open'
    RETURNING p.id AS promise_id, p.case_id, p.state AS outcome, p.amount, p.promised_date, p.received,
              d.loan_id, d.lender_id
),
cases AS (  -- a kept promise resolves the case only if it left the loan caught up; otherwise the case goes on
    UPDATE collections_collectioncase c
    SET state = CASE WHEN r.resolves THEN 'resolved' ELSE 'in_progress' END,
        closed_on = CASE WHEN r.resolves THEN %(d)s::date END,
        broken_promises = c.broken_promises + CASE j.outcome WHEN 'broken' THEN 1 ELSE 0 END,
        overdue_amount = CASE j.outcome WHEN 'broken' THEN o.amount ELSE c.overdue_amount END,
        dpd = CASE j.outcome WHEN 'broken' THEN {_DPD} ELSE c.dpd END,
        refreshed_on = CASE j.outcome WHEN 'broken' THEN %(d)s::date ELSE c.refreshed_on END,
        priority = CASE j.outcome WHEN 'broken' THEN {priority_sql("o.amount", _DPD, "c.broken_promises + 1")}
                   ELSE c.priority END
    FROM judged j JOIN repayments_loan l ON l.id = j.loan_id {_OVERDUE_LATERAL}
    CROSS JOIN LATERAL (SELECT j.outcome = 'kept' AND l.state NOT IN ('overdue', 'defaulted') AS resolves) r
    LEFT JOIN policy p ON p.lender_id = j.lender_id
    WHERE c.id = j.case_id AND c.state = 'promise_to_pay'
    RETURNING c.id, c.state, j.outcome, j.promise_id, j.amount, j.promised_date, j.received
),
audit AS ({_audit_insert(
    "cases", action="'promise_' || outcome", from_state="'promise_to_pay'", to_state="state",
    reason="format('Promised %%s by %%s; %%s received since it was made', to_char(amount, 'FM999,999,999,990.00'), "
           "promised_date, to_char(received, 'FM999,999,999,990.00'))",
    data="jsonb_build_object('business_date', %(d)s::text, 'promise', promise_id, 'outcome', outcome)")})
SELECT (SELECT count(*) FROM judged) + (SELECT count(*) FROM audit)
"""


def promises_review(chunk: Chunk) -> int:
    """Judge the open promises whose date passed before the business date (returns promises + cases changed).

    Kept when the repayments on the loan since the promise (total now − total then) reach the promised
    amount; the case is resolved if that left the loan caught up, and otherwise stays with its collector
    (in progress). A promise whose case has meanwhile resolved or closed is judged too but moves no case.
    """
    return _execute(_PROMISES_SQL, chunk)


# --- opening, resolving and refreshing cases ----------------------------------------------------

# A case opens for an overdue or defaulted loan without a live case — unless a person closed a case on
# it during this same spell of delinquency (closed on or after overdue_since).
_OPEN_SQL = f"""
WITH opened AS (
    INSERT INTO collections_collectioncase (lender_id, loan_id, state, opened_on, broken_promises, priority,
                                            overdue_amount, dpd)
    SELECT m.lender_id, l.id, 'open', %(d)s, 0, 0, 0, 0
    FROM repayments_loan l JOIN merchants_merchant m ON m.id = l.merchant_id
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.state IN ('overdue', 'defaulted')
      AND NOT EXISTS (SELECT 1 FROM collections_collectioncase c WHERE c.loan_id = l.id AND (
          c.state IN {LIVE} OR (c.state = 'closed' AND c.closed_on >= coalesce(l.overdue_since, %(d)s))))
    ON CONFLICT DO NOTHING
    RETURNING id, loan_id
),
audit AS ({_audit_insert(
    "opened", action="'case_opened'", from_state="''", to_state="'open'", reason="'Loan overdue'",
    data="jsonb_build_object('business_date', %(d)s::text, 'loan', loan_id)")})
SELECT count(*) FROM audit
"""

# Live cases whose loan no longer needs collecting: current again → resolved; restructured → closed;
# written off (elsewhere than through a write-off request) → written off.
_SETTLE_SQL = f"""
WITH target AS (
    SELECT c.id, c.state AS from_state, CASE l.state WHEN 'restructured' THEN 'closed'
                                                     WHEN 'written_off' THEN 'written_off' ELSE 'resolved' END AS to_state,
           l.state AS loan_state
    FROM collections_collectioncase c JOIN repayments_loan l ON l.id = c.loan_id
    WHERE c.loan_id >= %(lo)s AND c.loan_id < %(hi)s AND c.state IN {LIVE}
      AND l.state IN ('active', 'paid_off', 'restructured', 'written_off')
),
settled AS (
    UPDATE collections_collectioncase c SET state = t.to_state, closed_on = %(d)s
    FROM target t WHERE c.id = t.id AND c.state IN {LIVE}
    RETURNING c.id, t.from_state, t.to_state, t.loan_state
),
audit AS ({_audit_insert(
    "settled", action="CASE to_state WHEN 'resolved' THEN 'resolve' WHEN 'closed' THEN 'close' ELSE 'write_off' END",
    from_state="from_state", to_state="to_state",
    reason="CASE loan_state WHEN 'active' THEN 'Loan is current again' WHEN 'paid_off' THEN 'Loan paid off' "
           "WHEN 'restructured' THEN 'Loan restructured' ELSE 'Loan written off' END",
    data="jsonb_build_object('business_date', %(d)s::text, 'loan_state', loan_state)")})
SELECT count(*) FROM audit
"""

_REFRESH_SQL = f"""
WITH {_POLICY_CTE},
fresh AS (
    SELECT c.id, o.amount, {_DPD} AS dpd, {priority_sql("o.amount", _DPD, "c.broken_promises")} AS priority
    FROM collections_collectioncase c JOIN repayments_loan l ON l.id = c.loan_id {_OVERDUE_LATERAL}
    LEFT JOIN policy p ON p.lender_id = c.lender_id
    WHERE c.loan_id >= %(lo)s AND c.loan_id < %(hi)s AND c.state IN {LIVE}
),
refreshed AS (
    UPDATE collections_collectioncase c
    SET overdue_amount = f.amount, dpd = f.dpd, priority = f.priority, refreshed_on = %(d)s
    FROM fresh f
    WHERE c.id = f.id AND (c.overdue_amount, c.dpd, c.priority, c.refreshed_on)
                          IS DISTINCT FROM (f.amount, f.dpd, f.priority, %(d)s::date)
    RETURNING 1
)
SELECT count(*) FROM refreshed
"""


def cases_open(chunk: Chunk) -> int:
    """Open a case for each overdue or defaulted loan of the chunk that needs one."""
    return _execute(_OPEN_SQL, chunk)


def cases_update(chunk: Chunk) -> int:
    """Open the cases delinquent loans need, settle those whose loans are current again, refresh the rest."""
    return cases_open(chunk) + _execute(_SETTLE_SQL, chunk) + _execute(_REFRESH_SQL, chunk)


# --- dunning step actions ---------------------------------------------------------------------

_FIRED_CTE = """
fired AS (
    SELECT DISTINCT e.loan_id FROM collections_dunningevent e
    WHERE e.step_id = %(step)s AND e.business_date = %(d)s AND e.loan_id >= %(lo)s AND e.loan_id < %(hi)s
)"""

# Each unassigned case goes to the lender's collector with the fewest live cases, counting the ones this
# statement hands out (each collector offers slots load+1, load+2, …; the lowest slots win, ties by user id).
_ASSIGN_SQL = f"""
WITH {_FIRED_CTE},
targets AS (
    SELECT c.id, c.lender_id, row_number() OVER (PARTITION BY c.lender_id ORDER BY c.priority DESC, c.id) AS n
    FROM collections_collectioncase c JOIN fired f ON f.loan_id = c.loan_id
    WHERE c.state IN {LIVE} AND c.assigned_to_id IS NULL
),
wanted AS (SELECT lender_id, count(*) AS k FROM targets GROUP BY lender_id),
collectors AS (
    SELECT u.id, u.lender_id, w.k,
           (SELECT count(*) FROM collections_collectioncase c WHERE c.assigned_to_id = u.id AND c.state IN {LIVE}) AS load
    FROM accounts_user u JOIN wanted w ON w.lender_id = u.lender_id
    WHERE u.role = 'collector' AND u.is_active
),
slots AS (
    SELECT col.id AS user_id, col.lender_id,
           row_number() OVER (PARTITION BY col.lender_id ORDER BY col.load + s.j, col.id) AS n
    FROM collectors col CROSS JOIN LATERAL generate_series(1, col.k) AS s(j)
),
assigned AS (
    UPDATE collections_collectioncase c SET assigned_to_id = s.user_id, assigned_at = now()
    FROM targets t JOIN slots s ON s.lender_id = t.lender_id AND s.n = t.n
    WHERE c.id = t.id AND c.assigned_to_id IS NULL
    RETURNING c.id, c.state, s.user_id
),
audit AS ({_audit_insert(
    "assigned JOIN accounts_user u ON u.id = assigned.user_id", action="'case_assigned'", from_state="''",
    to_state="''", reason="'Assigned to ' || u.username || ' (dunning step ' || %(code)s::text || ')'",
    data="jsonb_build_object('business_date', %(d)s::text, 'to', assigned.user_id, 'step', %(code)s::text)",
    case_id="assigned.id")})
SELECT count(*) FROM audit
"""

_LEGAL_SQL = f"""
WITH {_FIRED_CTE},
referred AS (
    UPDATE collections_collectioncase c SET legal_referred_on = %(d)s
    FROM fired f WHERE f.loan_id = c.loan_id AND c.state IN {LIVE} AND c.legal_referred_on IS NULL
    RETURNING c.id
),
audit AS ({_audit_insert(
    "referred", action="'legal_referred'", from_state="''", to_state="''",
    reason="'Referred to legal (dunning step ' || %(code)s::text || ')'",
    data="jsonb_build_object('business_date', %(d)s::text, 'step', %(code)s::text)")})
SELECT count(*) FROM audit
"""


def collectors_assign(chunk: Chunk, step) -> int:
    """The step's loans that fired today get a collector on their case if it has none (cases opened first
    if the ladder runs ahead of cases_update, e.g. on a loan already far overdue when collections began)."""
    return cases_open(chunk) + _execute(_ASSIGN_SQL, chunk, step=step.pk, code=step.code)


def legal_referral(chunk: Chunk, step) -> int:
    """The step's loans that fired today have their case marked referred to legal (once)."""
    return cases_open(chunk) + _execute(_LEGAL_SQL, chunk, step=step.pk, code=step.code)
