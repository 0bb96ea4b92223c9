"""A repayment in one statement: ``repayments_post_fast(...)``, and the one-loan accrual it shares with the Python path.

``repayments_loan_accrue(loan, through)`` brings one loan's interest, fees and penalty up to a date in the
sub-ledger (the caller holds the loan's lock) and returns what it accrued, for the GL entry that goes with it.
End of day does the same over chunks of loans with its own set-based SQL (apps/repayments/accrual.py); both
use ``repayments_accrued_through`` for the formula, and a test holds the two to the same rows.

``repayments_post_fast`` is the common repayment — received today, on a loan the lender funded alone, that
neither prepays later installments (a reshape) nor repays the loan (a payoff), with no margin call open —
made in ONE statement, as ``repayment_post`` would make it in a dozen round trips:

1. the merchant and the loan FOR UPDATE, in the global lock order, with the reference looked up (a replay
   returns the first repayment) and the lender's accounts; the lender position is not locked (such a
   repayment never lowers net capital or raises borrowings, so it need not wait for a drawdown checking the
   cap);
2. the installments FOR UPDATE, read into arrays: what is owed on each as of the date; then the accrual to
   the date (``repayments_loan_accrue``), called only when those rows show something to accrue (the day's
   first repayment of the loan);
3. the payment filled over what is owed in the loan's allocation order (apps/repayments/allocation.py), in
   PL/pgSQL arithmetic rather than statements;
4. one data-modifying statement: the accrual entry and the repayment entry with their lines, the repayment,
   its allocations, the installments' paid amounts, the merchant's exposure and the audit row;
5. when the statement is its whole transaction, its deferred checks (foreign keys, balanced entries) run
   now, before the lender's hot balance rows are touched; then those rows, in account-id order, each with
   its wrong-side rule in the WHERE clause — held only for the end of the statement and the commit.

tests/repayments/test_one_statement.py holds it to the general path: the same payments on two identical
books, one through each, write the same rows.

Anything else — a repayment the Python path must shape (a reshape, a payoff, a credit balance, a
co-lent split, a backdated date), a state it must refuse with its own message, a reference the
books already hold — raises ``repayment needs the full path: <why>``. The statement (or the caller's
savepoint) rolls back, locks included, and repayment_post runs its general path from the start.
"""

from django.db import migrations

LOAN_ACCRUE = """
CREATE FUNCTION repayments_loan_accrue(p_loan bigint, p_through date,
                                       OUT interest numeric, OUT fee numeric, OUT penalty numeric)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_state text;
    v_start date;
    v_since date;
    v_rate numeric;
    v_basis integer;
BEGIN
    interest := 0;
    fee := 0;
    penalty := 0;
    SELECT l.state, l.start_date, coalesce(l.penalty_accrued_through, l.start_date), l.penalty_annual_rate,
           CASE l.day_count WHEN 'ACT/365' THEN 365 ELSE 360 END
      INTO v_state, v_start, v_since, v_rate, v_basis
      FROM repayments_loan l WHERE l.id = p_loan;
    IF v_state IS NULL OR v_state NOT IN ('active', 'overdue') THEN  -- only performing loans accrue
        RETURN;
    END IF;

    -- Each installment's period starts at the previous one's due date (the loan's start for the first).
    WITH target AS (
        SELECT i.id, i.interest_accrued AS old_i, i.fee_accrued AS old_f,
               repayments_accrued_through(i.interest_due, coalesce(p.due_date, v_start), i.due_date, p_through) AS ti,
               repayments_accrued_through(i.fee_due, coalesce(p.due_date, v_start), i.due_date, p_through) AS tf
          FROM repayments_loaninstallment i
          LEFT JOIN repayments_loaninstallment p ON p.loan_id = i.loan_id AND p.number = i.number - 1
         WHERE i.loan_id = p_loan AND coalesce(p.due_date, v_start) < p_through
    ), upd AS (
        UPDATE repayments_loaninstallment i SET interest_accrued = greatest(t.ti, t.old_i), fee_accrued = greatest(t.tf, t.old_f)
          FROM target t
         WHERE i.id = t.id AND (t.ti > t.old_i OR t.tf > t.old_f)
        RETURNING greatest(t.ti - t.old_i, 0) AS di, greatest(t.tf - t.old_f, 0) AS df
    )
    SELECT coalesce(sum(di), 0), coalesce(sum(df), 0) INTO interest, fee FROM upd;

    -- Penalty on overdue principal since the last penalty accrual: one day's penalty rounded, then multiplied.
    IF v_rate > 0 AND v_since < p_through THEN
        WITH due AS (
            SELECT i.id, greatest(v_since, i.due_date) AS first_day,
                   round((i.principal_due - i.principal_paid) * v_rate / v_basis, 2) AS per_day
              FROM repayments_loaninstallment i
             WHERE i.loan_id = p_loan AND i.principal_paid < i.principal_due AND i.due_date < p_through
        ), ins AS (
            INSERT INTO repayments_penaltyaccrual (loan_id, installment_id, period_start, period_end, amount)
            SELECT p_loan, d.id, d.first_day, p_through, d.per_day * (p_through - d.first_day)
              FROM due d WHERE d.per_day > 0 AND d.first_day < p_through
            RETURNING installment_id, amount
        ), upd AS (
            UPDATE repayments_loaninstallment i SET penalty_accrued = i.penalty_accrued + s.amount
              FROM (SELECT installment_id, sum(amount) AS amount FROM ins GROUP BY installment_id) s
             WHERE i.id = s.installment_id
            RETURNING s.amount
        )
        SELECT coalesce(sum(amount), 0) INTO penalty FROM upd;
        IF penalty > 0 THEN
            UPDATE repayments_loan SET penalty_accrued_through = p_through WHERE id = p_loan;
        END IF;
    END IF;
END $$;
ALTER FUNCTION repayments_loan_accrue(bigint, date) SET plan_cache_mode = force_generic_plan;
"""

POST_FAST = """
CREATE FUNCTION repayments_post_fast(
    p_lender bigint, p_currency text, p_merchant bigint, p_loan bigint, p_amount numeric, p_source text, p_reference text,
    p_received_on date, p_today date, p_prepayment text, p_by text, p_actor bigint,
    p_accrual_reference text, p_accrual_description text, p_entry_reference text, p_entry_description text,
    p_codes text[],  -- cash, principal, interest, fees, penalties, interest income, fee income, penalty income
    OUT status text, OUT repayment_id bigint, OUT amount numeric, OUT entry_id bigint, OUT created_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_alone boolean := pg_current_xact_id_if_assigned() IS NULL;  -- nothing written before this call
    v_loan record;
    v_acc bigint[];
    v_books boolean;
    v_exposures bigint;
    v_moved boolean;
    v_accrued record;
    v_accrue boolean := false;
    v_row record;
    v_n integer := 0;
    v_k integer := 0;
    v_c integer;
    v_i integer;
    v_inst bigint[] := '{}';
    v_due date[] := '{}';
    v_owed numeric[] := '{}';  -- four per installment: penalty, fee, interest, principal
    v_paid numeric[];  -- what the payment settles of each
    v_total numeric[] := ARRAY[0, 0, 0, 0]::numeric[];  -- what it settles of each component, all installments
    v_fee_due numeric;
    v_interest_due numeric;
    v_order integer[] := '{}';
    v_current integer;
    v_since date;
    v_rest numeric;
    v_take numeric;
    v_ids bigint[] := '{}';
    v_components text[] := '{}';
    v_takes numeric[] := '{}';
    v_later boolean := false;
    v_owing numeric := 0;  -- fee, interest and principal owed before the payment
    v_principal numeric;
    v_accrual_id bigint;
    v_lines_acc bigint[];
    v_lines_d numeric[];
    v_lines_c numeric[];
BEGIN
    -- The merchant, then the loan, locked in the global order; the lender position is not locked: nothing this
    -- repayment posts lowers net capital or raises borrowings (what does goes the full path).
    SELECT (SELECT array_agg(a.id ORDER BY array_position(p_codes, a.code::text))
              FROM ledger_account a WHERE a.lender_id = p_lender AND a.code = ANY (p_codes)),
           EXISTS (SELECT 1 FROM ledger_lenderposition WHERE lender_id = p_lender)
      INTO v_acc, v_books
      FROM merchants_merchant m WHERE m.id = p_merchant AND m.lender_id = p_lender FOR UPDATE OF m;
    IF NOT coalesce(v_books, false) OR coalesce(array_length(v_acc, 1), 0) <> array_length(p_codes, 1) THEN
        RAISE EXCEPTION 'repayment needs the full path: no books';
    END IF;
    SELECT l.id, l.merchant_id, l.state, l.partner_principal, l.allocation_strategy, l.start_date,
           l.penalty_annual_rate > 0 AND coalesce(l.penalty_accrued_through, l.start_date) < p_received_on AS penalty_due,
           r.id AS replay_id, r.amount AS replay_amount,
           EXISTS (SELECT 1 FROM repayments_margincall c WHERE c.loan_id = l.id AND c.state = 'open') AS called
      INTO v_loan
      FROM repayments_loan l
      LEFT JOIN repayments_repayment r ON r.loan_id = l.id AND r.source = p_source AND r.reference = p_reference
     WHERE l.id = p_loan FOR UPDATE OF l;
    IF v_loan.id IS NULL OR v_loan.merchant_id <> p_merchant THEN
        RAISE EXCEPTION 'repayment needs the full path: loan % is not the merchant''s', p_loan;
    END IF;
    IF v_loan.replay_id IS NOT NULL THEN
        status := 'replay';
        repayment_id := v_loan.replay_id;
        amount := v_loan.replay_amount;
        RETURN;
    END IF;
    IF v_loan.state NOT IN ('active', 'overdue') OR v_loan.partner_principal <> 0 OR p_received_on <> p_today
       OR v_loan.allocation_strategy NOT IN ('default', 'oldest_installment_first') OR v_loan.called THEN
        RAISE EXCEPTION 'repayment needs the full path: the loan or the date';
    END IF;

    -- The installments, locked, by due date: what is owed on each as of the date, four components apiece
    -- (penalty, fee, interest, principal; interest and fees only as accrued by then), as services._owed says.
    v_since := v_loan.start_date;
    FOR v_row IN
        SELECT i.id, i.due_date, i.penalty_accrued - i.penalty_paid AS penalty, i.fee_due, i.fee_paid, i.interest_due,
               i.interest_paid, i.principal_due - i.principal_paid AS principal, i.interest_accrued, i.fee_accrued
          FROM repayments_loaninstallment i WHERE i.loan_id = p_loan ORDER BY i.number FOR UPDATE
    LOOP
        v_n := v_n + 1;
        v_inst[v_n] := v_row.id;
        v_due[v_n] := v_row.due_date;
        v_fee_due := repayments_accrued_through(v_row.fee_due, v_since, v_row.due_date, p_received_on);
        v_interest_due := repayments_accrued_through(v_row.interest_due, v_since, v_row.due_date, p_received_on);
        v_owed := v_owed || ARRAY[v_row.penalty, greatest(v_fee_due - v_row.fee_paid, 0),
                                  greatest(v_interest_due - v_row.interest_paid, 0), v_row.principal];
        v_owing := v_owing + greatest(v_fee_due - v_row.fee_paid, 0) + greatest(v_interest_due - v_row.interest_paid, 0)
                   + v_row.principal;
        IF v_current IS NULL AND v_row.due_date >= p_received_on THEN
            v_current := v_n;  -- the current installment: the first due on or after the date
        END IF;
        -- Whether the accrual below has anything to do (the same targets it moves to; penalty: at most).
        v_accrue := v_accrue
            OR v_since < p_received_on AND (v_interest_due > v_row.interest_accrued OR v_fee_due > v_row.fee_accrued)
            OR v_loan.penalty_due AND v_row.due_date < p_received_on AND v_row.principal > 0;
        v_since := v_row.due_date;  -- the next installment's period starts here
    END LOOP;
    IF v_accrue THEN  -- the first repayment of the day; later ones find the day accrued
        v_accrued := repayments_loan_accrue(p_loan, p_received_on);
    ELSE
        SELECT 0::numeric AS interest, 0::numeric AS fee, 0::numeric AS penalty INTO v_accrued;
    END IF;
    IF v_accrued.penalty > 0 THEN  -- the day's penalty is owed too
        FOR v_row IN SELECT i.penalty_accrued - i.penalty_paid AS penalty
                       FROM repayments_loaninstallment i WHERE i.loan_id = p_loan ORDER BY i.number LOOP
            v_k := v_k + 1;
            v_owed[4 * v_k - 3] := v_row.penalty;
        END LOOP;
    END IF;

    -- The strategy's order (apps/repayments/allocation.py) as indexes into v_owed: the default settles past-due
    -- penalty, fees, interest, principal across installments, oldest first, then each later installment in
    -- turn; oldest_installment_first settles each installment in full, oldest first. (Due dates follow numbers.)
    FOR v_k IN 1..v_n LOOP
        FOR v_c IN 1..4 LOOP
            IF v_loan.allocation_strategy = 'default' AND v_due[v_k] < p_received_on THEN
                v_order[(v_c - 1) * v_n + v_k] := 4 * v_k - 4 + v_c;  -- component-major, ahead of the rest
            ELSE
                v_order[4 * v_n + 4 * v_k - 4 + v_c] := 4 * v_k - 4 + v_c;
            END IF;
        END LOOP;
    END LOOP;
    v_rest := p_amount;
    v_paid := array_fill(0::numeric, ARRAY[4 * v_n]);
    FOREACH v_i IN ARRAY array_remove(v_order, NULL) LOOP
        EXIT WHEN v_rest <= 0;
        v_take := least(v_owed[v_i], v_rest);
        IF v_take > 0 THEN
            v_k := (v_i + 3) / 4;
            v_c := v_i - 4 * v_k + 4;
            v_ids := v_ids || v_inst[v_k];
            v_components := v_components || (ARRAY['penalty', 'fee', 'interest', 'principal'])[v_c];
            v_takes := v_takes || v_take;
            v_paid[v_i] := v_take;
            v_total[v_c] := v_total[v_c] + v_take;
            v_rest := v_rest - v_take;
            v_later := v_later OR v_k > coalesce(v_current, v_n);
        END IF;
    END LOOP;
    v_principal := v_total[4];
    -- A reshape; a payoff (no fee, interest or principal left owed: services._close_if_repaid); a credit balance.
    IF v_later OR v_owing = v_total[2] + v_total[3] + v_total[4] OR v_rest > 0 THEN
        RAISE EXCEPTION 'repayment needs the full path: it prepays or repays the loan';
    END IF;

    -- The accrual entry (apps/repayments/accrual.py accrual_lines), then the repayment's (services._allocate_and_post),
    -- with their lines; the repayment, its allocations, the installments' paid amounts, the merchant's exposure and
    -- the audit row: one statement. (Each entry CTE reads the one before it, so they are numbered in that order.)
    v_lines_acc := ARRAY[v_acc[5], v_acc[8], v_acc[3], v_acc[6], v_acc[4], v_acc[7],
                         v_acc[1], v_acc[5], v_acc[4], v_acc[3], v_acc[2]];
    v_lines_d := ARRAY[v_accrued.penalty, 0, v_accrued.interest, 0, v_accrued.fee, 0, p_amount, 0, 0, 0, 0];
    v_lines_c := ARRAY[0, v_accrued.penalty, 0, v_accrued.interest, 0, v_accrued.fee, 0, v_total[1], v_total[2],
                       v_total[3], v_total[4]];
    WITH accrual AS (
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
    ), repayment AS (
        INSERT INTO repayments_repayment AS r (source, reference, amount, received_on, reversed_at, reversal_reason,
                                               created_by, created_at, journal_entry_id, loan_id, prepayment)
        SELECT p_source, p_reference, p_amount, p_received_on, NULL, '', p_by, now(), e.id, p_loan, p_prepayment FROM entry e
        RETURNING r.id, r.created_at, r.journal_entry_id
    ), allocations AS (
        INSERT INTO repayments_repaymentallocation (component, amount, installment_id, repayment_id)
        SELECT a.component, a.take, a.id, r.id
          FROM repayment r, unnest(v_ids, v_components, v_takes) WITH ORDINALITY AS a(id, component, take, n) ORDER BY a.n
    ), paid AS (
        UPDATE repayments_loaninstallment i
           SET penalty_paid = i.penalty_paid + u.penalty, fee_paid = i.fee_paid + u.fee,
               interest_paid = i.interest_paid + u.interest, principal_paid = i.principal_paid + u.principal
          FROM (SELECT v_inst[k] AS id, v_paid[4 * k - 3] AS penalty, v_paid[4 * k - 2] AS fee,
                       v_paid[4 * k - 1] AS interest, v_paid[4 * k] AS principal
                  FROM generate_series(1, v_n) AS k) u
         WHERE i.id = u.id AND u.penalty + u.fee + u.interest + u.principal > 0
    ), exposure AS (
        UPDATE ledger_merchantexposure x SET principal = x.principal - v_principal
         WHERE v_principal > 0 AND x.merchant_id = p_merchant AND x.principal >= v_principal
        RETURNING x.id
    ), audit AS (
        INSERT INTO core_auditevent (at, actor_id, actor_label, action, subject_type, subject_id, from_state, to_state,
                                     reason, data)
        VALUES (now(), p_actor, p_by, 'repayment_posted', 'repayments.loan', p_loan::text, '', '', '',
                jsonb_build_object('amount', p_amount::text, 'source', p_source, 'reference', p_reference)
                || jsonb_strip_nulls(jsonb_build_object('penalty', nullif(v_total[1], 0)::text,
                                                        'fee', nullif(v_total[2], 0)::text,
                                                        'interest', nullif(v_total[3], 0)::text,
                                                        'principal', nullif(v_total[4], 0)::text)))
    )
    SELECT r.id, r.created_at, r.journal_entry_id, (SELECT id FROM accrual), (SELECT count(*) FROM exposure)
      INTO repayment_id, created_at, entry_id, v_accrual_id, v_exposures
      FROM repayment r;
    IF repayment_id IS NULL OR (v_accrual_id IS NULL AND v_accrued.interest + v_accrued.fee + v_accrued.penalty > 0) THEN
        RAISE EXCEPTION 'repayment needs the full path: a reference is taken';
    END IF;
    IF v_principal > 0 AND v_exposures = 0 THEN
        RAISE EXCEPTION 'repayment needs the full path: more principal than the merchant owes';
    END IF;
    amount := p_amount;

    IF v_alone THEN  -- the whole transaction: its deferred checks now, not at commit over the hot rows (ledger 0007)
        SET CONSTRAINTS ALL IMMEDIATE;
        SET CONSTRAINTS ALL DEFERRED;
    END IF;
    -- The balance rows last, in account-id order (the global lock order: the UPDATE meets them in the order of its
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
        RAISE EXCEPTION 'repayment needs the full path: a balance would cross to the wrong side';
    END IF;
    status := 'posted';
END $$;
-- Every statement here touches a few rows by key. The balance rows are few pages by the statistics, so the planner
-- would scan them whole; but they are updated by every posting and carry dead versions between prunes, which a
-- scan reads every time (seen: most of the CPU of a repayment). Their unique index goes straight to the live row.
ALTER FUNCTION repayments_post_fast(bigint, text, bigint, bigint, numeric, text, text, date, date, text, text, bigint, text,
                                    text, text, text, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION repayments_post_fast(bigint, text, bigint, bigint, numeric, text, text, date, date, text, text, bigint, text,
                                    text, text, text, text[]) SET enable_seqscan = off;
"""

BACKWARD = """
DROP FUNCTION repayments_post_fast(bigint, text, bigint, bigint, numeric, text, text, date, date, text, text, bigint, text,
                                   text, text, text, text[]);
DROP FUNCTION repayments_loan_accrue(bigint, date);
"""


class Migration(migrations.Migration):
    dependencies = [("repayments", "0009_accrued_through_plpgsql"), ("ledger", "0009_balanced_trigger_inline"),
                    ("core", "0001_initial")]

    operations = [migrations.RunSQL(LOAN_ACCRUE + POST_FAST, BACKWARD)]
