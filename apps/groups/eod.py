"""Guarantee groups at end of day: claims when the ladder calls guarantors, contagion when a member
defaults, claims settling, and grade reviews. Each function is set-based SQL over one chunk of
loan ids (chunk.lo <= loan id < chunk.hi), runs inside the chunk's transaction, and is
idempotent: run again for the same date it changes nothing (unique keys and "only what
differs" updates; the contagion of one default is recorded once, in GroupDefault).

Audit rows are written set-based into core_auditevent from the rows each statement changed.
Merchant rows are locked in id order before they are changed, so two chunks freezing the same
group never deadlock.
"""

from django.db import connection

from apps.collections.models import DunningStep
from apps.eod.chunks import Chunk
from apps.merchants.models import Merchant
from apps.notifications.services import notices_insert

ACTOR = "system:eod"
# What an overdue amount is on a date: everything of the installments due before it, left unpaid.
_UNPAID = ("(i.principal_due - i.principal_paid) + (i.interest_due - i.interest_paid) + (i.fee_due - i.fee_paid)"
           " + (i.penalty_accrued - i.penalty_paid)")
_MONEY_TEXT = "to_char({}, 'FM999,999,999,990.00')"


def _render(template: str) -> str:
    """SQL rendering a dunning step template: e = the dunning event, b = the borrowing merchant."""
    return (f"replace(replace(replace(replace(replace({template}, '{{loan}}', e.loan_id::text),"
            f" '{{amount}}', {_MONEY_TEXT.format('e.amount')}), '{{due_date}}', e.due_date::text),"
            " '{dpd}', e.dpd::text), '{company}', b.company_name)")


def _params(chunk: Chunk, **extra) -> dict:
    return {"lo": chunk.lo, "hi": chunk.hi, "d": chunk.business_date, "actor": ACTOR, **extra}


def _scalar(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- claims when the dunning ladder calls the guarantors (D+15 by default) ---------------------

_CLAIMS_OPEN_SQL = """
WITH ev AS (
    SELECT e.id, e.loan_id, e.due_date, e.amount
    FROM collections_dunningevent e
    WHERE e.step_id = %(step)s AND e.business_date = %(d)s AND e.loan_id >= %(lo)s AND e.loan_id < %(hi)s
      AND e.amount > 0
),
opened AS (
    INSERT INTO groups_guaranteeclaim (loan_id, guarantor_id, group_id, basis, due_date, dunning_event_id, amount, opened_on,
                                       state)
    SELECT ev.loan_id, g.guarantor_id, g.group_id, 'dunning', ev.due_date, ev.id, ev.amount, %(d)s, 'open'
    FROM ev JOIN groups_loanguarantor g ON g.loan_id = ev.loan_id
    ORDER BY ev.loan_id, g.guarantor_id
    ON CONFLICT DO NOTHING
    RETURNING id, loan_id, guarantor_id, amount
),
audited AS (
    INSERT INTO core_auditevent (at, actor_label, action, subject_type, subject_id, from_state, to_state, reason, data)
    SELECT now(), %(actor)s, 'guarantee_claim_opened', 'groups.guaranteeclaim', o.id::text, '', 'open',
           'The dunning ladder called the guarantors (' || %(code)s || ')',
           jsonb_build_object('loan', o.loan_id, 'guarantor', o.guarantor_id, 'amount', o.amount::text,
                              'business_date', %(d)s::text)
    FROM opened o
    RETURNING 1
)
SELECT count(*) FROM opened
"""

_GUARANTOR_NOTICES_SQL = f"""
SELECT g.guarantor_id AS merchant_id, e.loan_id, s.code AS kind, e.due_date, e.business_date,
       left({_render("s.title")}, 200) AS title, {_render("s.body")} AS body, s.channels
FROM collections_dunningevent e JOIN collections_dunningstep s ON s.id = e.step_id
JOIN repayments_loan l ON l.id = e.loan_id JOIN merchants_merchant b ON b.id = l.merchant_id
JOIN groups_loanguarantor g ON g.loan_id = e.loan_id
WHERE e.step_id = %(step)s AND e.business_date = %(d)s AND e.loan_id >= %(lo)s AND e.loan_id < %(hi)s
"""


def guarantee_claims_open(chunk: Chunk, step: DunningStep) -> int:
    """The ladder's guarantor step fired for the chunk's loans today: a claim per guarantor for the
    event's overdue amount, and the guarantors' notices (the step's own templates and channels)."""
    params = _params(chunk, step=step.pk, code=step.code)
    return _scalar(_CLAIMS_OPEN_SQL, params) + notices_insert(_GUARANTOR_NOTICES_SQL, params)


# --- contagion: a member's loan defaulted today ------------------------------------------------

# The accepted members of the group of every loan of the chunk that defaulted today; the group is
# the one the loan's guarantees name, else the borrower's live group.
_DEFAULTED_SQL = """
SELECT l.id AS loan_id, l.merchant_id AS defaulter_id,
       coalesce((SELECT lg.group_id FROM groups_loanguarantor lg WHERE lg.loan_id = l.id LIMIT 1),
                (SELECT gm.group_id FROM groups_groupmembership gm WHERE gm.merchant_id = l.merchant_id
                   AND gm.state = 'accepted')) AS group_id
FROM repayments_loan l
WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.state = 'defaulted' AND l.defaulted_on = %(d)s
"""

_CONTAGION_LOCK_SQL = f"""
SELECT m.id FROM merchants_merchant m
WHERE m.id IN (
    SELECT gm.merchant_id FROM ({_DEFAULTED_SQL}) dl
    JOIN groups_groupmembership gm ON gm.group_id = dl.group_id AND gm.state = 'accepted'
    WHERE NOT EXISTS (SELECT 1 FROM groups_groupdefault gd WHERE gd.loan_id = dl.loan_id)
)
ORDER BY m.id
FOR UPDATE
"""

_CONTAGION_SQL = f"""
WITH recorded AS (
    INSERT INTO groups_groupdefault (group_id, loan_id, merchant_id, defaulted_on)
    SELECT dl.group_id, dl.loan_id, dl.defaulter_id, %(d)s FROM ({_DEFAULTED_SQL}) dl
    WHERE dl.group_id IS NOT NULL
    ORDER BY dl.loan_id
    ON CONFLICT (loan_id) DO NOTHING
    RETURNING group_id, loan_id, merchant_id
),
members AS (
    SELECT DISTINCT ON (gm.merchant_id) gm.merchant_id, r.loan_id,
           CASE WHEN gm.merchant_id = r.merchant_id
                THEN 'Your loan #' || r.loan_id || ' defaulted on ' || %(d)s::text || '.'
                ELSE 'Loan #' || r.loan_id || ' of ' || b.company_name || ', a member of your guarantee group '
                     || g.name || ', defaulted on ' || %(d)s::text || '.' END AS reason
    FROM recorded r JOIN groups_groupmembership gm ON gm.group_id = r.group_id AND gm.state = 'accepted'
    JOIN groups_guaranteegroup g ON g.id = r.group_id JOIN merchants_merchant b ON b.id = r.merchant_id
    ORDER BY gm.merchant_id, r.loan_id
),
before AS (  -- the statement's snapshot: who was frozen before this default
    SELECT mb.merchant_id, mb.loan_id, mb.reason, m.limit_frozen_at IS NULL AS newly_frozen
    FROM members mb JOIN merchants_merchant m ON m.id = mb.merchant_id
),
flagged AS (
    UPDATE merchants_merchant m
    SET limit_frozen_at = coalesce(m.limit_frozen_at, now()),
        limit_frozen_reason = CASE WHEN m.limit_frozen_at IS NULL THEN b.reason ELSE m.limit_frozen_reason END,
        grade_review_due = true
    FROM before b WHERE m.id = b.merchant_id
    RETURNING m.id
),
owed AS (
    SELECT r.loan_id, r.group_id, l.overdue_since, sum({_UNPAID}) AS amount
    FROM recorded r JOIN repayments_loan l ON l.id = r.loan_id
    JOIN repayments_loaninstallment i ON i.loan_id = l.id AND i.due_date < %(d)s
    GROUP BY r.loan_id, r.group_id, l.overdue_since
),
opened AS (
    INSERT INTO groups_guaranteeclaim (loan_id, guarantor_id, group_id, basis, due_date, amount, opened_on, state)
    SELECT o.loan_id, lg.guarantor_id, lg.group_id, 'default', coalesce(o.overdue_since - 1, %(d)s), o.amount, %(d)s, 'open'
    FROM owed o JOIN groups_loanguarantor lg ON lg.loan_id = o.loan_id
    WHERE o.amount > 0 AND NOT EXISTS (
        SELECT 1 FROM groups_guaranteeclaim c WHERE c.loan_id = lg.loan_id AND c.guarantor_id = lg.guarantor_id
          AND c.state = 'open')
    ORDER BY o.loan_id, lg.guarantor_id
    ON CONFLICT DO NOTHING
    RETURNING id, loan_id, guarantor_id, amount
),
audited AS (
    INSERT INTO core_auditevent (at, actor_label, action, subject_type, subject_id, from_state, to_state, reason, data)
    SELECT now(), %(actor)s, 'member_defaulted', 'groups.guaranteegroup', r.group_id::text, '', '',
           'Loan #' || r.loan_id || ' of a member defaulted', jsonb_build_object('loan', r.loan_id, 'merchant', r.merchant_id)
    FROM recorded r
    UNION ALL
    SELECT now(), %(actor)s, CASE WHEN b.newly_frozen THEN 'limit_frozen' ELSE 'grade_review_flagged' END,
           'merchants.merchant', b.merchant_id::text, '', CASE WHEN b.newly_frozen THEN 'frozen' ELSE '' END, b.reason,
           jsonb_build_object('loan', b.loan_id, 'grade_review_due', true)
    FROM before b
    UNION ALL
    SELECT now(), %(actor)s, 'guarantee_claim_opened', 'groups.guaranteeclaim', o.id::text, '', 'open',
           'Loan #' || o.loan_id || ' defaulted',
           jsonb_build_object('loan', o.loan_id, 'guarantor', o.guarantor_id, 'amount', o.amount::text,
                              'business_date', %(d)s::text)
    FROM opened o
    RETURNING 1
)
SELECT (SELECT count(*) FROM recorded), (SELECT count(*) FROM flagged), (SELECT count(*) FROM opened)
"""

_CONTAGION_NOTICES_SQL = f"""
SELECT gm.merchant_id, gd.loan_id, 'group-default' AS kind, NULL::date AS due_date, %(d)s::date AS business_date,
       left(CASE WHEN gm.merchant_id = gd.merchant_id THEN 'Loan #' || gd.loan_id || ' is in default: your group is frozen'
            ELSE 'A member of ' || g.name || ' defaulted: your credit limit is frozen' END, 200) AS title,
       CASE WHEN gm.merchant_id = gd.merchant_id
            THEN 'Your loan #' || gd.loan_id || ' defaulted on ' || %(d)s::text || '. The credit limits of every member of '
                 || g.name || ' are frozen and your grades will be reviewed. Pay what is overdue in the portal.'
            ELSE 'Loan #' || gd.loan_id || ' of ' || b.company_name || ', a member of your guarantee group ' || g.name
                 || ', defaulted on ' || %(d)s::text || '. Your credit limit is frozen and your grade will be reviewed.'
                 || coalesce(' You guarantee this loan: a claim of ' || {_MONEY_TEXT.format("c.open_amount")}
                             || ' is open against you; you can pay it in the portal.', '') END AS body,
       'email' AS channels
FROM groups_groupdefault gd
JOIN groups_groupmembership gm ON gm.group_id = gd.group_id AND gm.state = 'accepted'
JOIN groups_guaranteegroup g ON g.id = gd.group_id JOIN merchants_merchant b ON b.id = gd.merchant_id
LEFT JOIN LATERAL (SELECT sum(c.amount - c.paid) AS open_amount FROM groups_guaranteeclaim c
                   WHERE c.loan_id = gd.loan_id AND c.guarantor_id = gm.merchant_id AND c.state = 'open') c ON true
WHERE gd.defaulted_on = %(d)s AND gd.loan_id >= %(lo)s AND gd.loan_id < %(hi)s
"""


def contagion_apply(chunk: Chunk) -> int:
    """For the chunk's loans that defaulted today, once per loan: record the default against the
    group, freeze every member's credit limit (the defaulter's too) and flag them for a grade
    review, open claims for the overdue amount against guarantors without an open claim on the
    loan, audit it all and tell the members."""
    params = _params(chunk)
    with connection.cursor() as cursor:
        cursor.execute(_CONTAGION_LOCK_SQL, params)
        cursor.execute(_CONTAGION_SQL, params)
        recorded, flagged, opened = cursor.fetchone()
    return recorded + flagged + opened + notices_insert(_CONTAGION_NOTICES_SQL, params)


# --- claims follow the loan --------------------------------------------------------------------

_CLAIMS_SETTLE_SQL = """
WITH live AS (  -- what each claim's guarantor has paid, bounced payments left out
    SELECT c.id, coalesce(sum(r.amount) FILTER (WHERE r.reversed_at IS NULL), 0) AS paid
    FROM groups_guaranteeclaim c
    LEFT JOIN groups_guaranteeclaimpayment p ON p.claim_id = c.id
    LEFT JOIN repayments_repayment r ON r.id = p.repayment_id
    WHERE c.loan_id >= %(lo)s AND c.loan_id < %(hi)s
      AND (c.state = 'open' OR EXISTS (SELECT 1 FROM groups_guaranteeclaimpayment q WHERE q.claim_id = c.id))
    GROUP BY c.id
),
repaid AS (
    UPDATE groups_guaranteeclaim c SET paid = live.paid,
           state = CASE WHEN c.state = 'paid' AND live.paid < c.paid THEN 'open' ELSE c.state END,
           closed_at = CASE WHEN c.state = 'paid' AND live.paid < c.paid THEN NULL ELSE c.closed_at END
    FROM live WHERE c.id = live.id AND c.paid <> live.paid
    RETURNING c.id, c.paid, c.state
),
closing AS (
    SELECT c.id, CASE WHEN l.state IN ('paid_off', 'restructured') THEN 'The loan is ' || replace(l.state, '_', ' ')
                      ELSE 'The loan is no longer overdue for ' || c.due_date::text END AS reason
    FROM groups_guaranteeclaim c JOIN repayments_loan l ON l.id = c.loan_id
    WHERE c.loan_id >= %(lo)s AND c.loan_id < %(hi)s AND c.state = 'open'
      AND NOT EXISTS (SELECT 1 FROM repaid WHERE repaid.id = c.id AND repaid.state = 'open')
      AND (l.state IN ('paid_off', 'restructured')
           OR (l.state IN ('active', 'overdue') AND (l.overdue_since IS NULL
               OR (c.basis = 'dunning' AND c.due_date < l.overdue_since - 1))))
),
closed AS (
    UPDATE groups_guaranteeclaim c SET state = 'closed', closed_at = now(), close_reason = closing.reason
    FROM closing WHERE c.id = closing.id
    RETURNING c.id, closing.reason
),
audited AS (
    INSERT INTO core_auditevent (at, actor_label, action, subject_type, subject_id, from_state, to_state, reason, data)
    SELECT now(), %(actor)s, 'close', 'groups.guaranteeclaim', id::text, 'open', 'closed', reason, '{}'::jsonb FROM closed
    UNION ALL
    SELECT now(), %(actor)s, 'guarantee_payment_bounced', 'groups.guaranteeclaim', id::text, '', state,
           'A guarantor payment was reversed', jsonb_build_object('paid', paid::text) FROM repaid
    RETURNING 1
)
SELECT (SELECT count(*) FROM repaid) + (SELECT count(*) FROM closed)
"""


def claims_settle(chunk: Chunk) -> int:
    """Claims follow their loans: a bounced guarantor payment reopens its claim, and an open claim
    closes when nothing is owed on it any more (the loan repaid or restructured, or no longer
    overdue for the claim's due date). Defaulted and written-off loans keep their claims open."""
    return _scalar(_CLAIMS_SETTLE_SQL, _params(chunk))


# --- grade reviews -----------------------------------------------------------------------------

_REVIEW_TAKE_SQL = """
SELECT id FROM merchants_merchant WHERE grade_review_due ORDER BY id FOR UPDATE SKIP LOCKED
"""


def grades_review(chunk: Chunk) -> int:
    """Re-score every merchant flagged for a grade review, once, and clear the flag.

    Flags are taken with SKIP LOCKED, so chunks running side by side share them out and a
    chunk never waits on another; each flag is cleared in the transaction that re-scored it (a
    chunk's own contagion flags are still locked by it, so it reviews them itself). Not tied to
    the chunk's loan ids because a flagged member may have no loans. The work is per merchant,
    bounded by the members of groups that saw a default: the scoring model is Python
    (apps/merchants/scoring.py, with the contagion downgrade while the group has a defaulted member).
    """
    from apps.merchants.services import credit_profile_recompute

    with connection.cursor() as cursor:
        cursor.execute(_REVIEW_TAKE_SQL)
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return 0
    for merchant in Merchant.objects.filter(pk__in=ids).select_related("lender").order_by("pk"):
        credit_profile_recompute(merchant=merchant, actor=ACTOR, as_of=chunk.business_date)
    Merchant.objects.filter(pk__in=ids).update(grade_review_due=False)
    return len(ids)
