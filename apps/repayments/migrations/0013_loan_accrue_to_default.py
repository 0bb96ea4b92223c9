"""A defaulted loan accrues up to its default date: ``repayments_loan_accrue`` brought non-performing loans nothing.

End of day accrues a loan through the day it defaults, then stops (non-accrual). Moving the penalty clock back on a
defaulted loan — a reversal, a late payment put in date order — takes back penalty accrued before the default date
too, which must then accrue again on what was really overdue; until now the one-loan accrual returned at once for any
loan not active or overdue, and that penalty was lost. Past the default date it still accrues nothing.
"""

from importlib import import_module

from django.db import migrations

BEFORE = import_module("apps.repayments.migrations.0010_repayment_one_statement").LOAN_ACCRUE.replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")

_CHANGES = (
    ("    v_basis integer;\n", "    v_basis integer;\n    v_defaulted date;\n"),
    ("           CASE l.day_count WHEN 'ACT/365' THEN 365 ELSE 360 END\n      INTO v_state, v_start, v_since, v_rate, v_basis\n",
     "           CASE l.day_count WHEN 'ACT/365' THEN 365 ELSE 360 END, l.defaulted_on\n"
     "      INTO v_state, v_start, v_since, v_rate, v_basis, v_defaulted\n"),
    ("    IF v_state IS NULL OR v_state NOT IN ('active', 'overdue') THEN  -- only performing loans accrue\n",
     "    IF v_state = 'defaulted' AND v_defaulted IS NOT NULL THEN  -- non-accrual from the day after its default\n"
     "        p_through := least(p_through, v_defaulted);\n"
     "    ELSIF v_state IS NULL OR v_state NOT IN ('active', 'overdue') THEN  -- only performing loans accrue\n"),
)


def _after(sql: str) -> str:
    for old, new in _CHANGES:
        assert old in sql, old
        sql = sql.replace(old, new)
    return sql


class Migration(migrations.Migration):
    dependencies = [("repayments", "0012_loan_partner_annual_rate")]

    operations = [migrations.RunSQL(_after(BEFORE), BEFORE)]
