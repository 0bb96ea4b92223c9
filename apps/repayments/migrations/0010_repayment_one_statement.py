"""A repayment in one statement: ``repayments_post_fast(...)``, and the one-loan accrual it shares with the Python path.

``repayments_loan_accrue(loan, through)`` brings one loan's interest, fees and penalty up to a date in the
sub-ledger (the caller holds the loan's lock) and returns what it accrued, for the GL entry that goes with it.
End of day does the same over chunks of loans with its own set-based SQL (apps/repayments/accrual.py); both
use ``repayments_accrued_through`` for the formula, and a test holds the two to the same results.

``repayments_post_fast`` is the common repayment — received today, on a loan the lender funded alone, that
neither prepays later installments (a reshape) nor repays the loan (a payoff), with no margin call open —
made in ONE statement, as ``repayment_post`` would make it in a dozen round trips:

1. the lender position not locked (such a repayment never lowers net capital or raises borrowings, so it need
   not wait for a drawdown checking the cap), the merchant and the loan FOR UPDATE, in the global lock order;
   the reference looked up (a replay returns the first repayment);
2. the installments FOR UPDATE, the accrual to the date;
3. what is owed as of the date, component by component, in the loan's allocation order
   (apps/repayments/allocation.py, whose results a test compares with these), filled by the payment;
4. the accrual entry and the repayment entry with their lines, the repayment, its allocations, the
   installments' paid amounts, the merchant's exposure and the audit row;
5. when the statement is its whole transaction, its deferred checks (foreign keys, balanced entries) run
   now, before the lender's hot balance rows are touched; then those rows, in account-id order, each with
   its wrong-side rule in the WHERE clause — held only for the end of the statement and the commit.

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
    v_loan repayments_loan%ROWTYPE;
    v_acc bigint[];
    v_accrued record;
    v_current smallint;
    v_ids bigint[];
    v_components text[];
    v_takes numeric[];
    v_later boolean;
    v_left numeric;  -- fee, interest and principal still owed after the payment
    v_paid numeric;
    v_penalty numeric;
    v_fee numeric;
    v_interest numeric;
    v_principal numeric;
    v_accrual_id bigint;
    v_lines_acc bigint[];
    v_lines_d numeric[];
    v_lines_c numeric[];
    v_delta record;
BEGIN
    -- Not locked: nothing this repayment posts lowers net capital or raises borrowings (what does goes the full path).
    PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'repayment needs the full path: no books';
    END IF;
    PERFORM 1 FROM merchants_merchant WHERE id = p_merchant AND lender_id = p_lender FOR UPDATE;
    IF FOUND THEN
        SELECT * INTO v_loan FROM repayments_loan WHERE id = p_loan FOR UPDATE;
    END IF;
    IF v_loan.id IS NULL OR v_loan.merchant_id <> p_merchant THEN
        RAISE EXCEPTION 'repayment needs the full path: loan % is not the merchant''s', p_loan;
    END IF;

    SELECT r.id, r.amount INTO repayment_id, amount
      FROM repayments_repayment r WHERE r.loan_id = p_loan AND r.source = p_source AND r.reference = p_reference;
    IF FOUND THEN
        status := 'replay';
        RETURN;
    END IF;

    IF v_loan.state NOT IN ('active', 'overdue') OR v_loan.partner_principal <> 0 OR p_received_on <> p_today
       OR v_loan.allocation_strategy NOT IN ('default', 'oldest_installment_first')
       OR EXISTS (SELECT 1 FROM repayments_margincall WHERE loan_id = p_loan AND state = 'open') THEN
        RAISE EXCEPTION 'repayment needs the full path: the loan or the date';
    END IF;
    SELECT array_agg(a.id ORDER BY array_position(p_codes, a.code::text)) INTO v_acc
      FROM ledger_account a WHERE a.lender_id = p_lender AND a.code = ANY (p_codes);
    IF coalesce(array_length(v_acc, 1), 0) <> array_length(p_codes, 1) THEN
        RAISE EXCEPTION 'repayment needs the full path: no books';
    END IF;

    PERFORM 1 FROM repayments_loaninstallment WHERE loan_id = p_loan ORDER BY number FOR UPDATE;
    v_accrued := repayments_loan_accrue(p_loan, p_received_on);

    -- What is owed as of the date (interest and fees accrued by then), filled in the strategy's order: the default
    -- settles past-due penalty, fees, interest, principal across installments (oldest first), then each later
    -- installment in turn; oldest_installment_first settles each installment in full, oldest first.
    SELECT min(i.number) FILTER (WHERE i.due_date >= p_received_on) INTO v_current
      FROM repayments_loaninstallment i WHERE i.loan_id = p_loan;
    WITH owed AS (
        SELECT i.id, i.number, i.due_date, c.component, c.rank, c.owed
          FROM repayments_loaninstallment i
          LEFT JOIN repayments_loaninstallment p ON p.loan_id = i.loan_id AND p.number = i.number - 1
         CROSS JOIN LATERAL (VALUES
             ('penalty', 1, i.penalty_accrued - i.penalty_paid),
             ('fee', 2, greatest(repayments_accrued_through(i.fee_due, coalesce(p.due_date, v_loan.start_date), i.due_date,
                                                            p_received_on) - i.fee_paid, 0)),
             ('interest', 3, greatest(repayments_accrued_through(i.interest_due, coalesce(p.due_date, v_loan.start_date),
                                                                 i.due_date, p_received_on) - i.interest_paid, 0)),
             ('principal', 4, i.principal_due - i.principal_paid)) AS c(component, rank, owed)
         WHERE i.loan_id = p_loan
    ), ordered AS (
        SELECT o.*, sum(o.owed) OVER (ORDER BY k.past_first, k.component_first, o.due_date, o.number, o.rank
                                      ROWS UNBOUNDED PRECEDING) - o.owed AS before,
               row_number() OVER (ORDER BY k.past_first, k.component_first, o.due_date, o.number, o.rank) AS n
          FROM owed o
         CROSS JOIN LATERAL (SELECT v_loan.allocation_strategy = 'default' AND o.due_date < p_received_on AS past) d
         CROSS JOIN LATERAL (SELECT CASE WHEN v_loan.allocation_strategy <> 'default' OR d.past THEN 0 ELSE 1 END AS past_first,
                                    CASE WHEN d.past THEN o.rank ELSE 0 END AS component_first) k
    ), filled AS (
        SELECT o.*, least(o.owed, greatest(p_amount - o.before, 0)) AS take FROM ordered o
    )
    SELECT array_agg(f.id ORDER BY f.n) FILTER (WHERE f.take > 0), array_agg(f.component ORDER BY f.n) FILTER (WHERE f.take > 0),
           array_agg(f.take ORDER BY f.n) FILTER (WHERE f.take > 0),
           coalesce(bool_or(f.take > 0 AND f.number > v_current), false),
           coalesce(sum(f.owed - f.take) FILTER (WHERE f.component <> 'penalty'), 0), coalesce(sum(f.take), 0),
           coalesce(sum(f.take) FILTER (WHERE f.component = 'penalty'), 0),
           coalesce(sum(f.take) FILTER (WHERE f.component = 'fee'), 0),
           coalesce(sum(f.take) FILTER (WHERE f.component = 'interest'), 0),
           coalesce(sum(f.take) FILTER (WHERE f.component = 'principal'), 0)
      INTO v_ids, v_components, v_takes, v_later, v_left, v_paid, v_penalty, v_fee, v_interest, v_principal
      FROM filled f;
    IF v_later OR v_left = 0 OR v_paid <> p_amount THEN  -- a reshape, a payoff or a credit balance
        RAISE EXCEPTION 'repayment needs the full path: it prepays or repays the loan';
    END IF;

    -- The accrual entry (apps/repayments/accrual.py accrual_lines), then the repayment's (services._allocate_and_post).
    IF v_accrued.interest + v_accrued.fee + v_accrued.penalty > 0 THEN
        INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, posted_at, created_by)
        VALUES (p_lender, p_accrual_reference, 'accrual', p_received_on, p_accrual_description, now(), p_by)
        ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
        RETURNING e.id INTO v_accrual_id;
        IF v_accrual_id IS NULL THEN
            RAISE EXCEPTION 'repayment needs the full path: the accrual reference is taken';
        END IF;
        v_lines_acc := ARRAY[v_acc[5], v_acc[8], v_acc[3], v_acc[6], v_acc[4], v_acc[7]];
        v_lines_d := ARRAY[v_accrued.penalty, 0, v_accrued.interest, 0, v_accrued.fee, 0];
        v_lines_c := ARRAY[0, v_accrued.penalty, 0, v_accrued.interest, 0, v_accrued.fee];
        INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
        SELECT v_accrual_id, l.acc, l.d, l.c, p_currency, NULL
          FROM unnest(v_lines_acc, v_lines_d, v_lines_c) WITH ORDINALITY AS l(acc, d, c, n)
         WHERE l.d + l.c > 0 ORDER BY l.n;
    ELSE
        v_lines_acc := '{}';
        v_lines_d := '{}';
        v_lines_c := '{}';
    END IF;

    INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, posted_at, created_by)
    VALUES (p_lender, p_entry_reference, 'loan_repayment', p_received_on, p_entry_description, now(), p_by)
    ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
    RETURNING e.id INTO entry_id;
    IF entry_id IS NULL THEN
        RAISE EXCEPTION 'repayment needs the full path: the entry reference is taken';
    END IF;
    INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
    SELECT entry_id, l.acc, l.d, l.c, p_currency, CASE WHEN l.acc = v_acc[2] THEN p_merchant END
      FROM unnest(ARRAY[v_acc[1], v_acc[5], v_acc[4], v_acc[3], v_acc[2]], ARRAY[p_amount, 0, 0, 0, 0],
                  ARRAY[0, v_penalty, v_fee, v_interest, v_principal]) WITH ORDINALITY AS l(acc, d, c, n)
     WHERE l.d + l.c > 0 ORDER BY l.n;
    v_lines_acc := v_lines_acc || ARRAY[v_acc[1], v_acc[5], v_acc[4], v_acc[3], v_acc[2]];
    v_lines_d := v_lines_d || ARRAY[p_amount, 0, 0, 0, 0];
    v_lines_c := v_lines_c || ARRAY[0, v_penalty, v_fee, v_interest, v_principal];

    INSERT INTO repayments_repayment AS r (source, reference, amount, received_on, reversed_at, reversal_reason, created_by,
                                           created_at, journal_entry_id, loan_id, prepayment)
    VALUES (p_source, p_reference, p_amount, p_received_on, NULL, '', p_by, now(), entry_id, p_loan, p_prepayment)
    RETURNING r.id, r.amount, r.created_at INTO repayment_id, amount, created_at;
    INSERT INTO repayments_repaymentallocation (component, amount, installment_id, repayment_id)
    SELECT a.component, a.take, a.id, repayment_id FROM unnest(v_ids, v_components, v_takes) WITH ORDINALITY AS a(id, component, take, n)
     ORDER BY a.n;
    UPDATE repayments_loaninstallment i
       SET penalty_paid = i.penalty_paid + a.penalty, fee_paid = i.fee_paid + a.fee,
           interest_paid = i.interest_paid + a.interest, principal_paid = i.principal_paid + a.principal
      FROM (SELECT a.id, coalesce(sum(a.take) FILTER (WHERE a.component = 'penalty'), 0) AS penalty,
                   coalesce(sum(a.take) FILTER (WHERE a.component = 'fee'), 0) AS fee,
                   coalesce(sum(a.take) FILTER (WHERE a.component = 'interest'), 0) AS interest,
                   coalesce(sum(a.take) FILTER (WHERE a.component = 'principal'), 0) AS principal
              FROM unnest(v_ids, v_components, v_takes) AS a(id, component, take) GROUP BY a.id) a
     WHERE i.id = a.id;
    IF v_principal > 0 THEN
        UPDATE ledger_merchantexposure x SET principal = x.principal - v_principal
         WHERE x.merchant_id = p_merchant AND x.principal >= v_principal;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'repayment needs the full path: more principal than the merchant owes';
        END IF;
    END IF;
    INSERT INTO core_auditevent (at, actor_id, actor_label, action, subject_type, subject_id, from_state, to_state, reason, data)
    VALUES (now(), p_actor, p_by, 'repayment_posted', 'repayments.loan', p_loan::text, '', '', '',
            jsonb_build_object('amount', p_amount::text, 'source', p_source, 'reference', p_reference)
            || jsonb_strip_nulls(jsonb_build_object('penalty', nullif(v_penalty, 0)::text, 'fee', nullif(v_fee, 0)::text,
                                                    'interest', nullif(v_interest, 0)::text,
                                                    'principal', nullif(v_principal, 0)::text)));

    IF v_alone THEN
        -- The statement is the whole transaction: run its deferred checks (foreign keys, the balanced-entry
        -- triggers) now, before the hot balance rows are locked, rather than at commit while holding them.
        SET CONSTRAINTS ALL IMMEDIATE;
        SET CONSTRAINTS ALL DEFERRED;
    END IF;
    FOR v_delta IN
        SELECT l.acc, sum(l.d - l.c) AS delta FROM unnest(v_lines_acc, v_lines_d, v_lines_c) AS l(acc, d, c)
         GROUP BY l.acc HAVING sum(l.d - l.c) <> 0 ORDER BY l.acc
    LOOP
        UPDATE ledger_accountbalance b SET balance = b.balance + v_delta.delta
         WHERE b.account_id = v_delta.acc AND b.currency = p_currency
           AND (NOT b.non_negative OR (b.balance + v_delta.delta) * b.sign >= 0);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'repayment needs the full path: a balance would cross to the wrong side';
        END IF;
    END LOOP;
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
