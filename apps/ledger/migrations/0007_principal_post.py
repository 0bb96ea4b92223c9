"""``ledger_principal_post(...)``: a loan funding or a principal repayment in one short statement.

Both move one merchant's loans-receivable principal against cash, and both are the hot path
of the books (every disbursement, every principal repayment), so they get a function of
their own instead of the generic ``ledger_post_checked`` (seventeen statements, most of them
there to handle any set of lines). It writes first and checks as it writes:

1. the lender position in KEY SHARE (migration 0006: these entries never lower net capital or
   raise borrowings, so they exclude only its exclusive holders); no row → 'no_books';
2. the entry, INSERT … ON CONFLICT on the reference: a reference posted before returns
   'replay' having written nothing, before any check, so a retried request always gets its
   entry back;
3. the merchant's exposure, updated in place with its check: a funding upserts it (two first
   fundings of one merchant queue on the unique index rather than on the position) and the
   result must stay within round(max(net capital, 0) × single-borrower ratio, 2); a repayment
   may take only what the merchant owes;
4. the two lines;
5. the two balance rows in account-id order (the global order), last, so that the hottest
   rows of the books are held only for the end of the statement and the commit; each update
   carries the wrong-side rule in its WHERE clause (cash ≥ the funding).

A refusal raises ``ledger refused: <check>`` (SQLSTATE P0001) whose DETAIL is the decision
state as JSON: the statement — or the caller's savepoint — rolls back, so nothing it wrote
stays. When a funding fails more than one check, the cash one is named, as before.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_principal_post(
    p_lender bigint, p_currency text, p_reference text, p_kind text, p_date date, p_description text, p_by text,
    p_merchant bigint, p_amount numeric, p_funding boolean,
    p_cash_code text, p_principal_code text, p_borrowings_code text, p_capital_codes text[],
    p_default_cap numeric, p_default_single numeric,
    OUT status text, OUT entry_id bigint, OUT posted_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_cash_acc bigint;
    v_principal_acc bigint;
    v_nc numeric;
    v_single numeric;
    v_exposure numeric;
    v_accounts bigint[];
    v_deltas numeric[] := ARRAY[p_amount, -p_amount];  -- of the two lines: the debit, the credit
    v_principal_delta numeric := CASE WHEN p_funding THEN p_amount ELSE -p_amount END;
    v_refusal text;
    v_cash numeric;
    v_borrowings numeric;
    v_cap numeric;
    v_version bigint;
    v_alone boolean := pg_current_xact_id_if_assigned() IS NULL;  -- nothing written before this call
    i integer;
BEGIN
    PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'no_books';
        RETURN;
    END IF;

    INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, reverses_id,
                                          facility_id, posted_at, created_by)
    VALUES (p_lender, p_reference, p_kind, p_date, p_description, NULL, NULL, now(), p_by)
    ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
    RETURNING e.id, e.posted_at INTO entry_id, posted_at;
    IF entry_id IS NULL THEN
        status := 'replay';
        RETURN;
    END IF;

    -- Read after the position lock: nothing that lowers net capital can be in flight.
    SELECT max(a.id) FILTER (WHERE a.code = p_cash_code), max(a.id) FILTER (WHERE a.code = p_principal_code),
           -coalesce(sum(b.balance) FILTER (WHERE a.code = ANY (p_capital_codes)), 0),
           (SELECT s.single_borrower_ratio FROM ledger_ruleset s WHERE s.lender_id = p_lender AND s.effective_from <= p_date
             ORDER BY s.effective_from DESC, s.version DESC LIMIT 1)
      INTO v_cash_acc, v_principal_acc, v_nc, v_single
      FROM ledger_account a
      LEFT JOIN ledger_accountbalance b ON b.account_id = a.id AND b.currency = p_currency
     WHERE a.lender_id = p_lender;
    IF v_cash_acc IS NULL OR v_principal_acc IS NULL THEN
        RAISE EXCEPTION 'ledger_principal_post: lender % has no % or % account', p_lender, p_cash_code, p_principal_code;
    END IF;

    -- Dr principal (the merchant's) / Cr cash for a funding; Dr cash / Cr principal for a repayment.
    v_accounts := CASE WHEN p_funding THEN ARRAY[v_principal_acc, v_cash_acc] ELSE ARRAY[v_cash_acc, v_principal_acc] END;
    UPDATE ledger_merchantexposure x SET principal = x.principal + v_principal_delta
     WHERE x.merchant_id = p_merchant AND x.principal + v_principal_delta >= 0
    RETURNING x.principal INTO v_exposure;
    IF NOT FOUND AND p_funding THEN  -- the merchant's first funding (two of them queue on the unique index)
        INSERT INTO ledger_merchantexposure AS x (lender_id, merchant_id, principal) VALUES (p_lender, p_merchant, p_amount)
        ON CONFLICT (merchant_id) DO UPDATE SET principal = x.principal + EXCLUDED.principal
        RETURNING x.principal INTO v_exposure;
    ELSIF NOT FOUND THEN
        v_refusal := 'outstanding';
    END IF;
    IF p_funding AND v_exposure > round(greatest(v_nc, 0) * coalesce(v_single, p_default_single), 2) THEN
        v_refusal := 'single_borrower';
    END IF;

    IF v_refusal IS NULL THEN
        INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
        SELECT entry_id, l.acc, l.d, l.c, p_currency, CASE WHEN l.acc = v_principal_acc THEN p_merchant END
          FROM unnest(v_accounts, ARRAY[p_amount, 0], ARRAY[0, p_amount]) AS l(acc, d, c);
        IF v_alone THEN
            -- The statement is the whole transaction: run its deferred checks (foreign keys, the balanced-entry
            -- triggers) now, before the hot balance rows are locked, rather than at commit while holding them.
            SET CONSTRAINTS ALL IMMEDIATE;
            SET CONSTRAINTS ALL DEFERRED;
        END IF;
        FOREACH i IN ARRAY CASE WHEN v_accounts[1] < v_accounts[2] THEN ARRAY[1, 2] ELSE ARRAY[2, 1] END LOOP
            UPDATE ledger_accountbalance b SET balance = b.balance + v_deltas[i]
             WHERE b.account_id = v_accounts[i] AND b.currency = p_currency
               AND (NOT b.non_negative OR (b.balance + v_deltas[i]) * b.sign >= 0);
            IF NOT FOUND THEN
                v_refusal := CASE WHEN v_accounts[i] = v_cash_acc THEN 'cash' ELSE 'balance' END;
                EXIT;
            END IF;
        END LOOP;
    END IF;

    IF v_refusal IS NOT NULL THEN
        -- The state the refusal's message reports; the RAISE undoes everything this call wrote.
        SELECT coalesce(sum(b.balance) FILTER (WHERE a.code = p_cash_code), 0),
               -coalesce(sum(b.balance) FILTER (WHERE a.code = p_borrowings_code), 0)
          INTO v_cash, v_borrowings
          FROM ledger_account a JOIN ledger_accountbalance b ON b.account_id = a.id AND b.currency = p_currency
         WHERE a.lender_id = p_lender;
        SELECT s.borrowing_cap_ratio, s.single_borrower_ratio, s.version INTO v_cap, v_single, v_version
          FROM ledger_ruleset s WHERE s.lender_id = p_lender AND s.effective_from <= p_date
         ORDER BY s.effective_from DESC, s.version DESC LIMIT 1;
        IF p_funding THEN
            v_exposure := v_exposure - p_amount;
            IF v_cash < p_amount THEN
                v_refusal := 'cash';
            END IF;
        ELSE
            SELECT x.principal INTO v_exposure FROM ledger_merchantexposure x WHERE x.merchant_id = p_merchant;
        END IF;
        RAISE EXCEPTION 'ledger refused: %', v_refusal USING DETAIL = json_build_object(
            'cash', v_cash::text, 'net_capital', v_nc::text, 'borrowings', v_borrowings::text,
            'exposure', v_exposure::text, 'cap_ratio', coalesce(v_cap, p_default_cap)::text,
            'single_ratio', coalesce(v_single, p_default_single)::text, 'rules_version', coalesce(v_version, 0))::text;
    END IF;

    status := 'posted';
END $$;
ALTER FUNCTION ledger_principal_post(bigint, text, text, text, date, text, text, bigint, numeric, boolean, text, text, text,
                                     text[], numeric, numeric) SET plan_cache_mode = force_generic_plan;
"""

BACKWARD = """
DROP FUNCTION ledger_principal_post(bigint, text, text, text, date, text, text, bigint, numeric, boolean, text, text, text,
                                    text[], numeric, numeric);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_post_checked_position_mode")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
