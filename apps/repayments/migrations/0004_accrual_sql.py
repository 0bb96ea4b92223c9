from django.db import migrations

# The twin of apps.repayments.accrual.accrued_through in SQL, for set-based accrual: how much of `due`,
# spread evenly over (period_start, period_end], has accrued by the end of `through`. round(x, 2) rounds
# half away from zero, which is ROUND_HALF_UP for these non-negative amounts.
ACCRUED_THROUGH = """
CREATE OR REPLACE FUNCTION repayments_accrued_through(due numeric, period_start date, period_end date, through date)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN due = 0 OR period_end - period_start <= 0 OR through >= period_end THEN due
        WHEN through <= period_start THEN 0::numeric
        ELSE round(due * (through - period_start) / (period_end - period_start), 2)
    END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("repayments", "0003_delinquency")]

    operations = [
        migrations.RunSQL(ACCRUED_THROUGH, "DROP FUNCTION IF EXISTS repayments_accrued_through(numeric, date, date, date)"),
        # Accrual rewrites most installment rows every night: room on the page lets PostgreSQL update in place (HOT).
        migrations.RunSQL("ALTER TABLE repayments_loaninstallment SET (fillfactor = 70)",
                          "ALTER TABLE repayments_loaninstallment RESET (fillfactor)"),
        migrations.RunSQL("ALTER TABLE repayments_loan SET (fillfactor = 80)",
                          "ALTER TABLE repayments_loan RESET (fillfactor)"),
    ]
