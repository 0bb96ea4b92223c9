"""The chart's suspense account for payments being re-applied (Acct.REAPPLICATION_SUSPENSE), for lenders set up before it:
a credit-normal liability that can never hold a debit, zero at rest (chart_of_accounts_ensure makes it for new ones)."""

from django.db import migrations

ADD = """
INSERT INTO ledger_account (lender_id, code, name, type, normal_side, non_negative)
SELECT DISTINCT a.lender_id, '2900', 'Repayments being re-applied', 'liability', 'credit', true
  FROM ledger_account a
ON CONFLICT ON CONSTRAINT ledger_account_unique_code DO NOTHING;

INSERT INTO ledger_accountbalance (account_id, currency, balance, sign, non_negative)
SELECT a.id, l.base_currency, 0, -1, true
  FROM ledger_account a JOIN accounts_lender l ON l.id = a.lender_id
 WHERE a.code = '2900'
ON CONFLICT ON CONSTRAINT ledger_balance_unique DO NOTHING;
"""

REMOVE = """
DELETE FROM ledger_accountbalance b USING ledger_account a
 WHERE b.account_id = a.id AND a.code = '2900' AND b.balance = 0
   AND NOT EXISTS (SELECT 1 FROM ledger_journalline j WHERE j.account_id = a.id);
DELETE FROM ledger_account a
 WHERE a.code = '2900' AND NOT EXISTS (SELECT 1 FROM ledger_journalline j WHERE j.account_id = a.id);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0012_facility_reference"), ("accounts", "0001_initial")]

    operations = [migrations.RunSQL(ADD, REMOVE)]
