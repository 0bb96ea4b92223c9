"""repayments_post_fast builds less executor state per call, and re-checks a contended balance row cheaply.

- The accrual entry and its lines are a statement of their own, run only on the loan's first repayment of the day.
  Before, every repayment's big statement carried their two inserts (with their ON CONFLICT arbiter) and built
  them, to insert nothing five times in six.
- The balance rows are moved by one plain UPDATE: each account's movement is worked out in PL/pgSQL (it is the
  lines summed per account) and read from an array by account id. Before, the deltas were an aggregate over the
  lines joined to the balance rows. Every repayment of a lender moves its cash row, so under concurrency the
  UPDATE nearly always meets a row another repayment has just changed, and PostgreSQL re-checks it (EvalPlanQual)
  by building a fresh copy of the statement's plan: an aggregate, a sort and a function scan each time; now one
  index scan.
- The lock order holds: the UPDATE reads the rows by ``account_id = ANY (...)`` in an index scan, which visits the
  keys in ascending order (bitmap scans, which would visit them in heap order, are switched off for the function
  as sequential scans already were). A row whose movement is zero is filtered before it is locked, as before.

The rows written are unchanged; tests/repayments/test_one_statement.py holds them to the general path's.
"""

from importlib import import_module

from django.db import migrations

_derived = import_module("apps.ledger.migrations.0011_limits_round_down_rules_today")._derived
_BEFORE_MODULE = import_module("apps.repayments.migrations.0014_post_fast_installments_by_key")
BEFORE = _derived(_BEFORE_MODULE.BEFORE, _BEFORE_MODULE._CHANGES)  # as 0014 left it

_SIGNATURE = ("bigint, text, bigint, bigint, numeric, text, text, date, date, text, text, bigint, text, text, text, text, "
              "text[]")

_CHANGES = (
    ("    v_moved boolean;\n", "", 1),
    ("    v_lines_c numeric[];\n",
     "    v_lines_c numeric[];\n"
     "    v_moves numeric[];  -- each account's movement, in v_acc order\n", 1),
    ("""    -- The accrual entry (apps/repayments/accrual.py accrual_lines), then the repayment's (services._allocate_and_post),
    -- with their lines; the repayment, its allocations, the installments' paid amounts, the merchant's exposure and
    -- the audit row: one statement. (Each entry CTE reads the one before it, so they are numbered in that order.)
""", """    -- The accrual entry (apps/repayments/accrual.py accrual_lines) with its lines, when the day's accrual moved
    -- anything; then the repayment's entry (services._allocate_and_post) with its lines, the repayment, its
    -- allocations, the installments' paid amounts, the merchant's exposure and the audit row: one statement.
""", 1),
    ("""    WITH accrual AS (
        INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, posted_at, created_by)
        SELECT p_lender, p_accrual_reference, 'accrual', p_received_on, p_accrual_description, now(), p_by
         WHERE v_accrued.interest + v_accrued.fee + v_accrued.penalty > 0
        ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
        RETURNING e.id
    ), entry AS (
        INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, posted_at, created_by)
        SELECT p_lender, p_entry_reference, 'loan_repayment', p_received_on, p_entry_description, now(), p_by
          FROM (SELECT count(*) FROM accrual) AS after_accrual
        ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
        RETURNING e.id
    ), lines AS (
        INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
        SELECT e.id, l.acc, l.d, l.c, p_currency, CASE WHEN l.n = 11 THEN p_merchant END
          FROM unnest(v_lines_acc, v_lines_d, v_lines_c) WITH ORDINALITY AS l(acc, d, c, n)
          JOIN (SELECT 0 AS after, id FROM accrual UNION ALL SELECT 6, id FROM entry) e  -- the first six: the accrual's
            ON l.n > e.after AND l.n <= e.after + 6
         WHERE l.d + l.c > 0
         ORDER BY l.n
    ), repayment AS (""", """    IF v_accrued.interest + v_accrued.fee + v_accrued.penalty > 0 THEN
        WITH accrual AS (
            INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, posted_at,
                                                  created_by)
            VALUES (p_lender, p_accrual_reference, 'accrual', p_received_on, p_accrual_description, now(), p_by)
            ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
            RETURNING e.id
        ), lines AS (
            INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
            SELECT e.id, l.acc, l.d, l.c, p_currency, NULL
              FROM accrual e, unnest(v_lines_acc[1:6], v_lines_d[1:6], v_lines_c[1:6]) WITH ORDINALITY AS l(acc, d, c, n)
             WHERE l.d + l.c > 0
             ORDER BY l.n
        )
        SELECT a.id INTO v_accrual_id FROM accrual a;
        IF v_accrual_id IS NULL THEN
            RAISE EXCEPTION 'repayment needs the full path: a reference is taken';
        END IF;
    END IF;
    WITH entry AS (
        INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, posted_at, created_by)
        VALUES (p_lender, p_entry_reference, 'loan_repayment', p_received_on, p_entry_description, now(), p_by)
        ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
        RETURNING e.id
    ), lines AS (  -- the last five: cash in, then penalty, fees, interest and principal (the merchant's) out
        INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
        SELECT e.id, l.acc, l.d, l.c, p_currency, CASE WHEN l.n = 5 THEN p_merchant END
          FROM entry e, unnest(v_lines_acc[7:11], v_lines_d[7:11], v_lines_c[7:11]) WITH ORDINALITY AS l(acc, d, c, n)
         WHERE l.d + l.c > 0
         ORDER BY l.n
    ), repayment AS (""", 1),
    ("""    SELECT r.id, r.created_at, r.journal_entry_id, (SELECT id FROM accrual), (SELECT count(*) FROM exposure)
      INTO repayment_id, created_at, entry_id, v_accrual_id, v_exposures
      FROM repayment r;
    IF repayment_id IS NULL OR (v_accrual_id IS NULL AND v_accrued.interest + v_accrued.fee + v_accrued.penalty > 0) THEN
""", """    SELECT r.id, r.created_at, r.journal_entry_id, (SELECT count(*) FROM exposure)
      INTO repayment_id, created_at, entry_id, v_exposures
      FROM repayment r;
    IF repayment_id IS NULL THEN
""", 1),
    ("""    -- The balance rows last, in account-id order (the global lock order: the UPDATE meets them in the order of its
    -- sorted deltas, whichever way it joins them), each with its wrong-side rule in the WHERE clause.
    WITH delta AS (
        SELECT l.acc, sum(l.d - l.c) AS delta FROM unnest(v_lines_acc, v_lines_d, v_lines_c) AS l(acc, d, c)
         GROUP BY l.acc HAVING sum(l.d - l.c) <> 0
    ), moved AS (
        UPDATE ledger_accountbalance b SET balance = b.balance + d.delta
          FROM (SELECT * FROM delta ORDER BY acc) d
         WHERE b.account_id = d.acc AND b.currency = p_currency
           AND (NOT b.non_negative OR (b.balance + d.delta) * b.sign >= 0)
        RETURNING b.id
    )
    SELECT (SELECT count(*) FROM moved) = (SELECT count(*) FROM delta) INTO v_moved;
    IF NOT v_moved THEN
""", """    -- The balance rows last, in account-id order (the global lock order: an index scan of account_id = ANY meets the
    -- keys in ascending order), only those that move, each with its wrong-side rule in the WHERE clause. A movement
    -- is the lines above summed per account: cash, principal, interest, fees, penalties, then the three incomes.
    v_moves := ARRAY[p_amount, -v_total[4], v_accrued.interest - v_total[3], v_accrued.fee - v_total[2],
                     v_accrued.penalty - v_total[1], -v_accrued.interest, -v_accrued.fee, -v_accrued.penalty];
    UPDATE ledger_accountbalance b SET balance = b.balance + v_moves[array_position(v_acc, b.account_id)]
     WHERE b.account_id = ANY (v_acc) AND b.currency = p_currency AND v_moves[array_position(v_acc, b.account_id)] <> 0
       AND (NOT b.non_negative OR (b.balance + v_moves[array_position(v_acc, b.account_id)]) * b.sign >= 0);
    GET DIAGNOSTICS v_c = ROW_COUNT;
    IF v_c <> cardinality(array_remove(v_moves, 0)) THEN
""", 1),
)

FORWARD = _derived(BEFORE, _CHANGES) + f"ALTER FUNCTION repayments_post_fast({_SIGNATURE}) SET enable_bitmapscan = off;\n"
BACKWARD = BEFORE + f"ALTER FUNCTION repayments_post_fast({_SIGNATURE}) RESET enable_bitmapscan;\n"


class Migration(migrations.Migration):
    dependencies = [("repayments", "0015_lean_indexes")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
