"""repayments_post_fast moves each account's balance in a slice no other transaction holds (ledger migration 0016).

Every repayment of a lender moved the same cash, receivable and income rows and held them to the end of its commit,
so the lender's repayments committed one at a time, each waiting for the one before it to flush its WAL. Now each
account's movement goes into the first slice of its balance that no one holds (``FOR UPDATE SKIP LOCKED``) and that
can take it without crossing to the wrong side, all in one statement that never waits: concurrent repayments take
different slices and share their commits' flushes.

``p_slices`` says how. ``free``: that one statement; when some account has no such slice (a general posting holds
them all, or the free ones hold too little), the call raises ``repayment waits for a balance slice`` and is made
again with ``wait``: the accounts then move one by one in account-id order through ``ledger_balance_take``, which may
wait for a slice, or lock every slice and spread the balance over them. (A retry, not a wait in the first statement:
that statement may hold a slice of a later account, and waiting for an earlier one while holding it could close a
lock cycle with a general posting.) ``all``: inside a caller's transaction, which may post again after this call,
every slice of each account is locked, in account-id order, as a general posting locks them.
"""

from importlib import import_module

from django.db import migrations

_derived = import_module("apps.ledger.migrations.0011_limits_round_down_rules_today")._derived
BEFORE = import_module("apps.repayments.migrations.0016_post_fast_lean_statements").FORWARD
_SIGNATURE = ("bigint, text, bigint, bigint, numeric, text, text, date, date, text, text, bigint, text, text, text, text, "
              "text[]")

_CHANGES = (
    ("    p_codes text[],  -- cash, principal, interest, fees, penalties, interest income, fee income, penalty income\n",
     "    p_codes text[],  -- cash, principal, interest, fees, penalties, interest income, fee income, penalty income\n"
     "    p_slices text,  -- 'free', 'wait' (after a 'waits' refusal) or 'all' (inside a caller's transaction)\n", 1),
    ("    v_moves numeric[];  -- each account's movement, in v_acc order\n",
     "    v_moves numeric[];  -- each account's movement, in v_acc order\n"
     "    v_move record;\n", 1),
    ("""    -- The balance rows last, in account-id order (the global lock order: an index scan of account_id = ANY meets the
    -- keys in ascending order), only those that move, each with its wrong-side rule in the WHERE clause. A movement
    -- is the lines above summed per account: cash, principal, interest, fees, penalties, then the three incomes.
    v_moves := ARRAY[p_amount, -v_total[4], v_accrued.interest - v_total[3], v_accrued.fee - v_total[2],
                     v_accrued.penalty - v_total[1], -v_accrued.interest, -v_accrued.fee, -v_accrued.penalty];
    UPDATE ledger_accountbalance b SET balance = b.balance + v_moves[array_position(v_acc, b.account_id)]
     WHERE b.account_id = ANY (v_acc) AND b.currency = p_currency AND v_moves[array_position(v_acc, b.account_id)] <> 0
       AND (NOT b.non_negative OR (b.balance + v_moves[array_position(v_acc, b.account_id)]) * b.sign >= 0);
    GET DIAGNOSTICS v_c = ROW_COUNT;
    IF v_c <> cardinality(array_remove(v_moves, 0)) THEN
        RAISE EXCEPTION 'repayment needs the full path: a balance would cross to the wrong side';
    END IF;
""", """    -- The balances last: each account that moves, in the first slice no other transaction holds that can take its
    -- movement without crossing to the wrong side (SKIP LOCKED: never waits). A movement is the lines above summed
    -- per account: cash, principal, interest, fees, penalties, then the three incomes.
    v_moves := ARRAY[p_amount, -v_total[4], v_accrued.interest - v_total[3], v_accrued.fee - v_total[2],
                     v_accrued.penalty - v_total[1], -v_accrued.interest, -v_accrued.fee, -v_accrued.penalty];
    IF p_slices = 'free' THEN
        UPDATE ledger_accountbalance b SET balance = b.balance + s.delta
          FROM (SELECT t.id, m.delta
                  FROM unnest(v_acc, v_moves) AS m(acc, delta)
                  CROSS JOIN LATERAL (
                      SELECT x.id FROM ledger_accountbalance x
                       WHERE x.account_id = m.acc AND x.currency = p_currency
                         AND (NOT x.non_negative OR (x.balance + m.delta) * x.sign >= 0)
                       ORDER BY x.slice FOR UPDATE SKIP LOCKED LIMIT 1) t
                 WHERE m.delta <> 0) s
         WHERE b.id = s.id;
        GET DIAGNOSTICS v_c = ROW_COUNT;
        IF v_c <> cardinality(array_remove(v_moves, 0)) THEN  -- undone; made again with p_wait
            RAISE EXCEPTION 'repayment waits for a balance slice';
        END IF;
    ELSE
        FOR v_move IN SELECT m.acc, m.delta FROM unnest(v_acc, v_moves) AS m(acc, delta) WHERE m.delta <> 0 ORDER BY m.acc
        LOOP
            IF NOT ledger_balance_take(v_move.acc, p_currency, v_move.delta, p_slices = 'wait') THEN
                RAISE EXCEPTION 'repayment needs the full path: a balance would cross to the wrong side';
            END IF;
        END LOOP;
    END IF;
""", 1),
    ("text[]) SET plan_cache_mode", "text[], text) SET plan_cache_mode", 1),
    ("text[]) SET enable_seqscan", "text[], text) SET enable_seqscan", 1),
    ("text[]) SET enable_bitmapscan", "text[], text) SET enable_bitmapscan", 1),
)

FORWARD = f"DROP FUNCTION repayments_post_fast({_SIGNATURE});\n" + _derived(BEFORE, _CHANGES)
BACKWARD = f"DROP FUNCTION repayments_post_fast({_SIGNATURE}, text);\n" + BEFORE


class Migration(migrations.Migration):
    dependencies = [("repayments", "0016_post_fast_lean_statements"), ("ledger", "0016_balance_slices")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
