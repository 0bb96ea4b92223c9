"""``ledger_post_checked`` takes the lender position lock in the mode its caller asks for.

* ``'none'`` — post_locked: its caller already holds the position lock (re-taking it was a
  no-op) or, like end of day, deliberately does not take it: EOD holds row locks on its
  loans, which real-time services take only after the position lock, so taking it inside
  the posting inverted the global order and could deadlock with a repayment.
* ``'key share'`` — post_checked (loan funding, principal repayment). These entries never
  lower net capital or raise borrowings, so they need not exclude one another: each
  waits only for the services that hold the position lock exclusively (a drawdown, a
  write-off, a funding event) and then serialises on the rows it actually moves. Their
  checks read rows they lock: cash from its locked balance row, exposure from its locked
  exposure row. A merchant with no exposure row yet has nothing to lock, so that posting
  takes the position lock exclusively instead (two first fundings of one merchant queue).
* ``'update'`` — exclusive, as before.

The function's statements also use generic plans: with the default plan-cache mode some of
them were re-planned on every call (~0.45 ms of a ~1.5 ms posting).
"""

from importlib import import_module

from django.db import migrations

_PREVIOUS = import_module("apps.ledger.migrations.0005_post_checked")

_OLD_ARGS = "p_default_cap numeric, p_default_single numeric)"
_NEW_ARGS = "p_default_cap numeric, p_default_single numeric, p_position_lock text)"
_OLD_LOCK = "    PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender FOR UPDATE;\n"
_NEW_LOCK = """    IF p_position_lock = 'key share' AND EXISTS (
            SELECT 1 FROM unnest(array_append(p_merchants, p_merchant)) AS m(id)
             WHERE m.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_merchantexposure x WHERE x.merchant_id = m.id)) THEN
        p_position_lock := 'update';  -- a new exposure row: nothing to lock yet, so exclude the other postings
    END IF;
    IF p_position_lock = 'update' THEN
        PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender FOR UPDATE;
    ELSIF p_position_lock = 'key share' THEN
        PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender FOR KEY SHARE;
    ELSE
        PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender;
    END IF;
"""
# The cash check reads the cash balance row it has locked, not the unlocked read of every balance.
_OLD_LOOP = """    FOR r IN SELECT b.account_id, b.balance, b.sign, b.non_negative, a.name, k.delta"""
_NEW_LOOP = """    FOR r IN SELECT b.account_id, b.balance, b.sign, b.non_negative, a.name, k.delta, a.code"""
_OLD_ROW = """        v_rows := v_rows + 1;\n"""
_NEW_ROW = """        v_rows := v_rows + 1;
        IF r.code = p_cash_code THEN
            v_cash := r.balance;
        END IF;
"""


def _derived(sql: str) -> str:
    for old, new in ((_OLD_ARGS, _NEW_ARGS), (_OLD_LOCK, _NEW_LOCK), (_OLD_LOOP, _NEW_LOOP), (_OLD_ROW, _NEW_ROW)):
        assert sql.count(old) == 1, old
        sql = sql.replace(old, new)
    return sql


_SIGNATURE = ("bigint, text, text, text, date, text, text, bigint, text[], numeric[], numeric[], bigint[], bigint, numeric,"
              " text[], boolean, text, text, text, text[], numeric, numeric")
FORWARD = (_PREVIOUS.BACKWARD + _derived(_PREVIOUS.FORWARD)
           + f"ALTER FUNCTION ledger_post_checked({_SIGNATURE}, text) SET plan_cache_mode = force_generic_plan;\n")
BACKWARD = f"DROP FUNCTION ledger_post_checked({_SIGNATURE}, text);\n" + _PREVIOUS.FORWARD


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_post_checked")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
