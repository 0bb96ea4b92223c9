"""repayments_post_fast updates the merchant's exposure in a statement of its own, only when principal is repaid.

Inside the data-modifying statement the exposure UPDATE was planned, opened and initialised on every call, though
most repayments settle interest, fees or penalties and leave principal alone. The same update, the same refusal
when the merchant owes less principal than the repayment settles (the full path then posts it).
"""

from importlib import import_module

from django.db import migrations

_derived = import_module("apps.ledger.migrations.0011_limits_round_down_rules_today")._derived
_0017 = import_module("apps.repayments.migrations.0017_post_fast_balance_slices").FORWARD
BEFORE = _0017[_0017.index("CREATE OR REPLACE FUNCTION"):]  # (after 0017's DROP of the older signature)

_CHANGES = (
    ("    -- allocations, the installments' paid amounts, the merchant's exposure and the audit row: one statement.\n",
     "    -- allocations, the installments' paid amounts and the audit row: one statement; then, when principal is\n"
     "    -- repaid, the merchant's exposure.\n", 1),
    ("""    ), exposure AS (
        UPDATE ledger_merchantexposure x SET principal = x.principal - v_principal
         WHERE v_principal > 0 AND x.merchant_id = p_merchant AND x.principal >= v_principal
        RETURNING x.id
    ), audit AS (""", "    ), audit AS (", 1),
    ("""    SELECT r.id, r.created_at, r.journal_entry_id, (SELECT count(*) FROM exposure)
      INTO repayment_id, created_at, entry_id, v_exposures
""", """    SELECT r.id, r.created_at, r.journal_entry_id
      INTO repayment_id, created_at, entry_id
""", 1),
    ("""    IF v_principal > 0 AND v_exposures = 0 THEN
        RAISE EXCEPTION""", """    IF v_principal > 0 THEN
        UPDATE ledger_merchantexposure x SET principal = x.principal - v_principal
         WHERE x.merchant_id = p_merchant AND x.principal >= v_principal;
        GET DIAGNOSTICS v_exposures = ROW_COUNT;
    END IF;
    IF v_principal > 0 AND v_exposures = 0 THEN
        RAISE EXCEPTION""", 1),
)

FORWARD = _derived(BEFORE, _CHANGES)


class Migration(migrations.Migration):
    dependencies = [("repayments", "0018_compact_checks")]

    operations = [migrations.RunSQL(FORWARD, BEFORE)]
