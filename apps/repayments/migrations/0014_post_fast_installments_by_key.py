"""repayments_post_fast updates the installments it pays by key, never by scanning the table.

Its generic plan joined the paid amounts (a generate_series over the loan's installments, estimated at 333 rows) to
every installment by a merge join over the whole primary key: each repayment read every installment in the book,
so the statement slowed as the book grew (4.8 ms at 18,000 installments, most of a repayment's time). The update
now names the ids it touches (``= ANY``) and reads the loan's installments by their index.
"""

from importlib import import_module

from django.db import migrations

_derived = import_module("apps.ledger.migrations.0011_limits_round_down_rules_today")._derived
BEFORE = import_module("apps.repayments.migrations.0010_repayment_one_statement").POST_FAST.replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")

_CHANGES = (
    ("""          FROM (SELECT v_inst[k] AS id, v_paid[4 * k - 3] AS penalty, v_paid[4 * k - 2] AS fee,
                       v_paid[4 * k - 1] AS interest, v_paid[4 * k] AS principal
                  FROM generate_series(1, v_n) AS k) u
         WHERE i.id = u.id AND u.penalty + u.fee + u.interest + u.principal > 0
""", """          FROM (SELECT u.id, v_paid[4 * u.k - 3] AS penalty, v_paid[4 * u.k - 2] AS fee,
                       v_paid[4 * u.k - 1] AS interest, v_paid[4 * u.k] AS principal
                  FROM unnest(v_inst) WITH ORDINALITY AS u(id, k)) u
         WHERE i.id = u.id AND i.id = ANY (v_inst) AND i.loan_id = p_loan
           AND u.penalty + u.fee + u.interest + u.principal > 0
""", 1),
)


class Migration(migrations.Migration):
    dependencies = [("repayments", "0013_loan_accrue_to_default")]

    operations = [migrations.RunSQL(_derived(BEFORE, _CHANGES), BEFORE)]
