from importlib import import_module

from django.db import migrations

# The same formula as 0004, in PL/pgSQL: a SQL function is inlined into every statement that calls it,
# and four inlined CASE expressions made planning the accrual statement cost ~15 ms — on every repayment,
# under the lender's lock. A PL/pgSQL function is planned once per connection and evaluated as a simple
# expression, which is as fast per row at end of day.
ACCRUED_THROUGH = """
CREATE OR REPLACE FUNCTION repayments_accrued_through(due numeric, period_start date, period_end date, through date)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN CASE
        WHEN due = 0 OR period_end - period_start <= 0 OR through >= period_end THEN due
        WHEN through <= period_start THEN 0::numeric
        ELSE round(due * (through - period_start) / (period_end - period_start), 2)
    END;
END
$$;
"""

SQL_VERSION = import_module("apps.repayments.migrations.0004_accrual_sql").ACCRUED_THROUGH  # back to the SQL twin


class Migration(migrations.Migration):
    dependencies = [("repayments", "0008_prepayments_and_revisions")]

    operations = [migrations.RunSQL(ACCRUED_THROUGH, SQL_VERSION)]
