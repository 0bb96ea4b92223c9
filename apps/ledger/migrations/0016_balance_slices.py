"""Each balance is kept in slices, so that postings running at once need not queue on one row.

Every posting moved its accounts' single balance rows and held them to the end of its commit, WAL flush included, so
one lender's repayments and fundings committed one after another, never in a shared flush: four clients spent a
third of their time waiting on the cash row. Now each (account, currency) has ``SLICES`` rows; the balance is their
sum, and each slice obeys the wrong-side rule (the CHECK) on its own, so the sum does.

- ``ledger_balance_take(account, currency, delta, one_slice)``: a one-account movement. With ``one_slice`` (the
  caller's statement is its whole transaction): into the first slice no other transaction holds that can take it
  (``FOR UPDATE SKIP LOCKED``: never waits); failing that, the first that can, waiting for its holder. Otherwise, or
  when no slice can take it alone, every slice is locked in slice order and the movement made by
  ``ledger_balances_move``. False when the account as a whole would end on its wrong side. ``ledger_principal_post``
  (loan funding, principal repayment) moves its two accounts with it, in account order; it takes one slice only when
  it is the whole transaction (its new ``p_one_slice``). Inside a larger transaction a later posting would lock every
  slice of an account it already holds one of, waiting for lower slices while holding a higher one: a lock cycle
  with any general posting. Locking every slice there keeps the old order.
- ``ledger_balances_move(accounts, currencies, deltas)``: for callers holding every slice of each key (the general
  postings, ``ledger_post_entry`` and ``ledger_post_checked``, which now lock all slices in (account, currency, slice)
  order and check the sums). On an account with a wrong side the new total is spread evenly over the slices (the
  remainder in slice 0), refilling those that one-slice takers have drawn down, so that their next takes find a free
  slice that can cover them; on any other account the movement goes to slice 0.
- ``ledger_position_lock_state`` reads each account's sum.

Lock order is unchanged in kind: a transaction waits for a balance row only when every row it holds comes before it
in (account id, currency, slice) order (SKIP LOCKED takes never wait).
"""

from importlib import import_module

from django.db import migrations, models

_derived = import_module("apps.ledger.migrations.0011_limits_round_down_rules_today")._derived
_function = import_module("apps.ledger.migrations.0009_balanced_trigger_inline")._function
_m0003 = import_module("apps.ledger.migrations.0003_posting_fast_path")
_m0011 = import_module("apps.ledger.migrations.0011_limits_round_down_rules_today")

SLICES = 8  # models.BALANCE_SLICES when this was written

_CHECKED_SIGNATURE = ("bigint, text, text, text, date, text, text, bigint, text[], numeric[], numeric[], bigint[], "
                      "bigint, numeric, text[], boolean, text, text, text, text[], numeric, numeric, text")
# CREATE OR REPLACE resets a function's settings; these are ledger_post_checked's (migrations 0011 and 0014).
_CHECKED_CONFIG = (f"ALTER FUNCTION ledger_post_checked({_CHECKED_SIGNATURE}) SET plan_cache_mode = force_generic_plan;\n"
                   f"ALTER FUNCTION ledger_post_checked({_CHECKED_SIGNATURE}) SET enable_seqscan = off;\n")

SLICES_ADD = f"""
INSERT INTO ledger_accountbalance (account_id, currency, slice, balance, sign, non_negative)
SELECT b.account_id, b.currency, s, 0, b.sign, b.non_negative
  FROM ledger_accountbalance b CROSS JOIN generate_series(1, {SLICES - 1}) s
 WHERE b.slice = 0
 ORDER BY b.account_id, b.currency, s;
"""
SLICES_MERGE = """
UPDATE ledger_accountbalance b SET balance = t.total
  FROM (SELECT account_id, currency, sum(balance) AS total FROM ledger_accountbalance GROUP BY 1, 2) t
 WHERE b.account_id = t.account_id AND b.currency = t.currency AND b.slice = 0;
DELETE FROM ledger_accountbalance WHERE slice > 0;
"""

HELPERS = """
CREATE FUNCTION ledger_balances_move(p_accounts bigint[], p_currencies text[], p_deltas numeric[]) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$  -- PL/pgSQL, not SQL: its statement is planned once per connection, not per call
DECLARE
    v_keys integer;
BEGIN
    -- The caller holds every slice of each key. Returns how many keys it found (and moved).
    WITH k AS (
        SELECT k.account_id, k.currency, sum(k.delta) AS delta
          FROM unnest(p_accounts, p_currencies, p_deltas) AS k(account_id, currency, delta) GROUP BY 1, 2
    ), t AS (
        SELECT b.account_id, b.currency, k.delta, sum(b.balance) + k.delta AS total, count(*) AS slices,
               bool_and(b.non_negative) AS spread
          FROM ledger_accountbalance b JOIN k ON k.account_id = b.account_id AND k.currency = b.currency
         GROUP BY b.account_id, b.currency, k.delta
    ), moved AS (
        UPDATE ledger_accountbalance b
           SET balance = CASE WHEN NOT t.spread THEN b.balance + t.delta
                              WHEN b.slice = 0 THEN t.total - trunc(t.total / t.slices, 2) * (t.slices - 1)
                              ELSE trunc(t.total / t.slices, 2) END
          FROM t
         WHERE b.account_id = t.account_id AND b.currency = t.currency AND (t.spread OR b.slice = 0)
        RETURNING b.account_id, b.currency
    )
    SELECT count(DISTINCT (account_id, currency)) INTO v_keys FROM moved;
    RETURN v_keys;
END $$;

CREATE FUNCTION ledger_balance_take(p_account bigint, p_currency text, p_delta numeric, p_one_slice boolean)
RETURNS boolean LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_id bigint;
    v_total numeric;
    v_sign smallint;
    v_non_negative boolean;
BEGIN
    IF p_one_slice THEN  -- the caller's statement is its whole transaction
        SELECT b.id INTO v_id FROM ledger_accountbalance b  -- a slice no one holds that can take it
         WHERE b.account_id = p_account AND b.currency = p_currency
           AND (NOT b.non_negative OR (b.balance + p_delta) * b.sign >= 0)
         ORDER BY b.slice FOR UPDATE SKIP LOCKED LIMIT 1;
        IF NOT FOUND THEN  -- else wait for one that can (its holder commits soon; the rule is checked again after)
            SELECT b.id INTO v_id FROM ledger_accountbalance b
             WHERE b.account_id = p_account AND b.currency = p_currency
               AND (NOT b.non_negative OR (b.balance + p_delta) * b.sign >= 0)
             ORDER BY b.slice FOR UPDATE LIMIT 1;
        END IF;
        IF FOUND THEN
            UPDATE ledger_accountbalance SET balance = balance + p_delta WHERE id = v_id;
            RETURN true;
        END IF;
    END IF;
    -- Every slice, in slice order, then the account as a whole.
    SELECT sum(s.balance), min(s.sign), bool_and(s.non_negative) INTO v_total, v_sign, v_non_negative
      FROM (SELECT b.balance, b.sign, b.non_negative FROM ledger_accountbalance b
             WHERE b.account_id = p_account AND b.currency = p_currency ORDER BY b.slice FOR UPDATE) s;
    IF v_total IS NULL OR v_non_negative AND (v_total + p_delta) * v_sign < 0 THEN
        RETURN false;
    END IF;
    PERFORM ledger_balances_move(ARRAY[p_account], ARRAY[p_currency], ARRAY[p_delta]);
    RETURN true;
END $$;
"""
# The books as they stand: each balance with a wrong side spread over its slices at once (a zero movement), so that
# the first one-slice takes after the deploy do not all queue on slice 0 until a general posting spreads it.
SPREAD = """
SELECT ledger_balances_move(array_agg(k.account_id ORDER BY k.account_id, k.currency),
                            array_agg(k.currency ORDER BY k.account_id, k.currency), array_agg(0::numeric))
  FROM (SELECT DISTINCT account_id, currency FROM ledger_accountbalance WHERE non_negative) k;
"""
HELPERS_DROP = """
DROP FUNCTION ledger_balance_take(bigint, text, numeric, boolean);
DROP FUNCTION ledger_balances_move(bigint[], text[], numeric[]);
"""

_ENTRY_BEFORE = _function(_m0003.FORWARD, "ledger_post_entry")
_ENTRY_AFTER = _derived(_ENTRY_BEFORE, [
    ("""     ORDER BY b.account_id, b.currency FOR UPDATE OF b;
    UPDATE ledger_accountbalance b SET balance = b.balance + k.delta
      FROM unnest(p_bal_accounts, p_bal_currencies, p_bal_deltas) AS k(account_id, currency, delta)
     WHERE b.account_id = k.account_id AND b.currency = k.currency;
    GET DIAGNOSTICS v_updated = ROW_COUNT;
""", """     ORDER BY b.account_id, b.currency, b.slice FOR UPDATE OF b;
    v_updated := ledger_balances_move(p_bal_accounts, p_bal_currencies, p_bal_deltas);
""", 1),
])

_STATE_BEFORE = _function(_m0003.FORWARD, "ledger_position_lock_state")
_STATE_AFTER = _derived(_STATE_BEFORE, [
    ("          LEFT JOIN ledger_accountbalance b ON b.account_id = a.id AND b.currency = p_currency\n",
     "          LEFT JOIN LATERAL (SELECT sum(s.balance) AS balance FROM ledger_accountbalance s\n"
     "                              WHERE s.account_id = a.id AND s.currency = p_currency) b ON true\n", 1),
])

_CHECKED_BEFORE = _m0011._CHECKED_NEW
_CHECKED_AFTER = _derived(_CHECKED_BEFORE, [
    ("""    -- The balance rows the entry moves, locked in account-id order; the wrong-side rule checked on them.
    SELECT count(DISTINCT a) INTO v_keys FROM unnest(v_accounts) AS a;
    FOR r IN SELECT b.account_id, b.balance, b.sign, b.non_negative, a.name, k.delta, a.code
               FROM (SELECT l.acc, sum(l.d - l.c) AS delta
                       FROM unnest(v_accounts, p_debits, p_credits) AS l(acc, d, c) GROUP BY l.acc) k
               JOIN ledger_accountbalance b ON b.account_id = k.acc AND b.currency = p_currency
               JOIN ledger_account a ON a.id = k.acc
              ORDER BY b.account_id FOR UPDATE OF b LOOP
""", """    -- The balance rows the entry moves, every slice, locked in (account id, slice) order; the wrong-side rule
    -- checked on each account's sum.
    SELECT count(DISTINCT a) INTO v_keys FROM unnest(v_accounts) AS a;
    PERFORM 1 FROM ledger_accountbalance b WHERE b.account_id = ANY (v_accounts) AND b.currency = p_currency
      ORDER BY b.account_id, b.slice FOR UPDATE;
    FOR r IN SELECT b.account_id, sum(b.balance) AS balance, min(b.sign) AS sign, bool_and(b.non_negative) AS non_negative,
                    a.name, k.delta, a.code
               FROM (SELECT l.acc, sum(l.d - l.c) AS delta
                       FROM unnest(v_accounts, p_debits, p_credits) AS l(acc, d, c) GROUP BY l.acc) k
               JOIN ledger_accountbalance b ON b.account_id = k.acc AND b.currency = p_currency
               JOIN ledger_account a ON a.id = k.acc
              GROUP BY b.account_id, a.name, k.delta, a.code
              ORDER BY b.account_id LOOP
""", 1),
    ("""        UPDATE ledger_accountbalance b SET balance = b.balance + k.delta
          FROM (SELECT l.acc, sum(l.d - l.c) AS delta
                  FROM unnest(v_accounts, p_debits, p_credits) AS l(acc, d, c) GROUP BY l.acc) k
         WHERE b.account_id = k.acc AND b.currency = p_currency;
""", """        PERFORM ledger_balances_move(v_accounts, array_fill(p_currency, ARRAY[cardinality(v_accounts)]),
                                     ARRAY(SELECT l.d - l.c FROM unnest(p_debits, p_credits) WITH ORDINALITY AS l(d, c, n)
                                            ORDER BY l.n));
""", 1),
])

_PRINCIPAL_BEFORE = _m0011._PRINCIPAL_FORWARD
_PRINCIPAL_SIGNATURE = ("bigint, text, text, text, date, text, text, bigint, numeric, boolean, text, text, text, text[], "
                        "numeric, numeric, date")
_PRINCIPAL_AFTER = _derived(_PRINCIPAL_BEFORE, [
    ("p_default_cap numeric, p_default_single numeric, p_rules_on date,\n",
     "p_default_cap numeric, p_default_single numeric, p_rules_on date, p_one_slice boolean,\n", 1),
    ("""            UPDATE ledger_accountbalance b SET balance = b.balance + v_deltas[i]
             WHERE b.account_id = v_accounts[i] AND b.currency = p_currency
               AND (NOT b.non_negative OR (b.balance + v_deltas[i]) * b.sign >= 0);
            IF NOT FOUND THEN
""", """            IF NOT ledger_balance_take(v_accounts[i], p_currency, v_deltas[i], p_one_slice) THEN
""", 1),
    ("numeric, numeric, date) SET plan_cache_mode", "numeric, numeric, date, boolean) SET plan_cache_mode", 1),
])

FORWARD = (SLICES_ADD + HELPERS + SPREAD + _ENTRY_AFTER + _STATE_AFTER + _CHECKED_AFTER + _CHECKED_CONFIG
           + f"DROP FUNCTION ledger_principal_post({_PRINCIPAL_SIGNATURE});\n" + _PRINCIPAL_AFTER)
BACKWARD = (_ENTRY_BEFORE + _STATE_BEFORE + _CHECKED_BEFORE + _CHECKED_CONFIG
            + f"DROP FUNCTION ledger_principal_post({_PRINCIPAL_SIGNATURE}, boolean);\n" + _PRINCIPAL_BEFORE
            + HELPERS_DROP + SLICES_MERGE)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0015_lean_indexes'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='accountbalance',
            name='ledger_balance_unique',
        ),
        migrations.AddField(
            model_name='accountbalance',
            name='slice',
            field=models.SmallIntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name='accountbalance',
            constraint=models.UniqueConstraint(fields=('account', 'currency', 'slice'), name='ledger_balance_unique'),
        ),
        migrations.AddConstraint(
            model_name='accountbalance',
            constraint=models.CheckConstraint(condition=models.Q(('slice__gte', 0), ('slice__lt', 8)), name='ledger_balance_slice_range'),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
