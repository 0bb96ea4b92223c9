"""Co-lent loans carry their bank's rate; those already disbursed take it from the agreement their share was offered under.

A loan that has already collected interest had the bank's part split by principal share, which is what the loan's own
rate in the bank's place gives (shares.lender_interest_part): it keeps that split, so its books still reconcile.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('repayments', '0011_credit_refund_reference_per_merchant'),
        ('financing', '0001_initial'),
        ('partners', '0002_colendingagreement'),
    ]

    operations = [
        migrations.AddField(
            model_name='loan',
            name='partner_annual_rate',
            field=models.DecimalField(db_default=0, decimal_places=4, default=0, max_digits=7),
        ),
        migrations.RunSQL(
            """
            UPDATE repayments_loan l
               SET partner_annual_rate = CASE WHEN EXISTS (SELECT 1 FROM repayments_loaninstallment i
                                                            WHERE i.loan_id = l.id AND i.interest_paid <> 0)
                                              THEN l.annual_rate ELSE a.annual_rate END
              FROM financing_partnershareoffer o JOIN partners_colendingagreement a ON a.id = o.agreement_id
             WHERE o.application_id = l.application_id AND l.partner_principal <> 0
            """,
            migrations.RunSQL.noop,
        ),
    ]
