"""The limits are cut to the cent, never rounded up past their ratio; a loan funding is checked against the rules in
force today, whatever its business date.

* ``ledger_principal_post`` read the rule set in force on the entry's business date, so a funding dated earlier (an
  offer's start date, say) was held to rules since tightened; it now takes the date to read them on (the caller's
  business today) as ``p_rules_on``. Its single-borrower limit, and ``ledger_post_checked``'s, is truncated to the
  cent: round(1,000.10 × 5%) = 50.01 would have let a borrower owe more than 5%.
"""

from importlib import import_module

from django.db import migrations

_PRINCIPAL = import_module("apps.ledger.migrations.0007_principal_post")
_CHECKED = import_module("apps.ledger.migrations.0006_post_checked_position_mode")
_function = import_module("apps.ledger.migrations.0009_balanced_trigger_inline")._function

_PRINCIPAL_SIGNATURE = ("bigint, text, text, text, date, text, text, bigint, numeric, boolean, text, text, text, text[], "
                        "numeric, numeric")


def _derived(sql: str, replacements) -> str:
    for old, new, count in replacements:
        assert sql.count(old) == count, old
        sql = sql.replace(old, new)
    return sql


_PRINCIPAL_FORWARD = _derived(_PRINCIPAL.FORWARD, [
    ("p_default_cap numeric, p_default_single numeric,\n", "p_default_cap numeric, p_default_single numeric, p_rules_on date,\n",
     1),
    ("s.effective_from <= p_date", "s.effective_from <= p_rules_on", 2),
    ("round(greatest(v_nc, 0) * coalesce(v_single, p_default_single), 2)",
     "trunc(greatest(v_nc, 0) * coalesce(v_single, p_default_single), 2)", 1),
    ("text[], numeric, numeric) SET plan_cache_mode", "text[], numeric, numeric, date) SET plan_cache_mode", 1),
])
_CHECKED_CONFIG = (f"ALTER FUNCTION ledger_post_checked({_CHECKED._SIGNATURE}, text) "
                   "SET plan_cache_mode = force_generic_plan;\n")
_CHECKED_OLD = _function(_CHECKED._derived(_CHECKED._PREVIOUS.FORWARD), "ledger_post_checked")  # as 0006 made it
_CHECKED_NEW = _derived(_CHECKED_OLD, [("round(greatest(v_nc, 0) * v_single, 2)", "trunc(greatest(v_nc, 0) * v_single, 2)", 1)])

FORWARD = _PRINCIPAL.BACKWARD + _PRINCIPAL_FORWARD + _CHECKED_NEW + _CHECKED_CONFIG
BACKWARD = (f"DROP FUNCTION ledger_principal_post({_PRINCIPAL_SIGNATURE}, date);\n" + _PRINCIPAL.FORWARD
            + _CHECKED_OLD + _CHECKED_CONFIG)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0010_entry_reference_255")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
