"""The dunning ladder at end of day: which step fires for which loan, once per due date.

A step with offset o fires for a loan's due date when the days past that due date reach o
and not yet the next step's offset (reminders, o < 0, count days before an unpaid due
date; steps at o > 0 follow the oldest unpaid due date). The DunningEvent row's unique
(loan, step, due date) makes a step fire at most once; the notices to the borrowing
merchant are written in the same transaction, then each step's action runs.
"""

from importlib import import_module

from django.db import connection

from apps.eod.chunks import Chunk
from apps.eod.steps import STEP_ACTIONS
from apps.notifications.services import notices_insert

from .models import Audience, DunningStep


def rendered_sql(template: str) -> str:
    """SQL rendering a step template column, with e = the dunning event row and m = a merchant row."""
    return (f"replace(replace(replace(replace(replace({template}, '{{loan}}', e.loan_id::text),"
            " '{amount}', to_char(e.amount, 'FM999,999,999,990.00')), '{due_date}', e.due_date::text),"
            " '{dpd}', e.dpd::text), '{company}', m.company_name)")


_UNPAID = "(i.principal_due - i.principal_paid) + (i.interest_due - i.interest_paid) + (i.fee_due - i.fee_paid)"

_FIRE_SQL = f"""
WITH steps AS (
    SELECT s.id, s.lender_id, s.offset_days,
           coalesce(lead(s.offset_days) OVER (PARTITION BY s.lender_id ORDER BY s.offset_days), 32767) AS next_offset
    FROM collections_dunningstep s WHERE s.active
),
upcoming AS (
    SELECT l.id AS loan_id, m.lender_id, i.due_date, (%(d)s - i.due_date) AS dpd, {_UNPAID} AS amount
    FROM repayments_loan l JOIN merchants_merchant m ON m.id = l.merchant_id
    JOIN repayments_loaninstallment i ON i.loan_id = l.id
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND i.loan_id >= %(lo)s AND i.loan_id < %(hi)s
      AND l.state IN ('active', 'overdue') AND i.due_date > %(d)s AND i.due_date <= %(d)s + %(lead)s AND {_UNPAID} > 0
),
overdue AS (
    SELECT l.id AS loan_id, m.lender_id, l.overdue_since - 1 AS due_date, (%(d)s - l.overdue_since + 1) AS dpd,
           (SELECT sum({_UNPAID} + i.penalty_accrued - i.penalty_paid) FROM repayments_loaninstallment i
            WHERE i.loan_id = l.id AND i.due_date < %(d)s) AS amount
    FROM repayments_loan l JOIN merchants_merchant m ON m.id = l.merchant_id
    WHERE l.id >= %(lo)s AND l.id < %(hi)s AND l.state IN ('overdue', 'defaulted') AND l.overdue_since IS NOT NULL
),
candidates AS (SELECT * FROM upcoming UNION ALL SELECT * FROM overdue),
fired AS (
    INSERT INTO collections_dunningevent (loan_id, step_id, due_date, business_date, dpd, amount)
    SELECT c.loan_id, s.id, c.due_date, %(d)s, c.dpd, c.amount
    FROM candidates c JOIN steps s ON s.lender_id = c.lender_id
    WHERE c.dpd >= s.offset_days
      AND c.dpd < CASE WHEN s.offset_days < 0 THEN least(s.next_offset, 0) ELSE s.next_offset END
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM fired
"""

_MERCHANT_NOTICES_SQL = f"""
SELECT m.id AS merchant_id, e.loan_id, s.code AS kind, e.due_date, e.business_date,
       left({rendered_sql("s.title")}, 200) AS title, {rendered_sql("s.body")} AS body, s.channels
FROM collections_dunningevent e JOIN collections_dunningstep s ON s.id = e.step_id
JOIN repayments_loan l ON l.id = e.loan_id JOIN merchants_merchant m ON m.id = l.merchant_id
WHERE e.business_date = %(d)s AND e.loan_id >= %(lo)s AND e.loan_id < %(hi)s AND s.audience = '{Audience.MERCHANT}'
"""


def dunning_fire(chunk: Chunk) -> int:
    """Fire the ladder for the chunk's loans; returns the events and notices written."""
    lead = max([-o for o in DunningStep.objects.filter(active=True, offset_days__lt=0)
               .values_list("offset_days", flat=True).distinct()] or [0])
    params = {"lo": chunk.lo, "hi": chunk.hi, "d": chunk.business_date, "lead": lead}
    with connection.cursor() as cursor:
        cursor.execute(_FIRE_SQL, params)
        rows = cursor.fetchone()[0]
    rows += notices_insert(_MERCHANT_NOTICES_SQL, params)
    for step in DunningStep.objects.filter(active=True).exclude(action="").order_by("lender_id", "offset_days"):
        module, name = STEP_ACTIONS[step.action].rsplit(".", 1)
        rows += getattr(import_module(module), name)(chunk, step)
    return rows
