"""Check and post in one statement: ``ledger_post_checked(...)``.

The loan-side money services (loan funding, principal repayment) used to lock the lender
position and read their decision state in one call, decide in Python, post in a second
call and commit in a third round trip — the position lock held across all three, the
Python in between and the commit. This function does the whole of it on the server:

1. lock the lender position (first in the global lock order; no rows → 'no_books');
2. resolve the lines' account codes (an unknown code → 'unknown_account');
3. read the decision state with a snapshot taken after the lock: cash, net capital (the
   accounts the caller names — selectors.net_capital_codes, the one definition),
   borrowings, the rule set in force on the business date;
4. lock the exposure rows of the merchants on principal lines (merchant-id order), then
   the balance rows the entry moves (account-id order), reading both;
5. check: the caller's named checks ('cash': cash ≥ amount; 'single_borrower': exposure +
   amount ≤ round(max(net capital, 0) × ratio, 2); 'outstanding': amount ≤ exposure), then
   the generic ones post_locked makes (no exposure below zero, no balance on the wrong
   side). A refusal writes nothing and names the failed check as its status; when asked
   (p_replay_on_refusal: the business services, whose retried request must get its entry
   back) the reference is looked up first and an existing one makes it 'replay';
6. write: the entry (INSERT … ON CONFLICT on the reference's unique constraint: a replay
   writes nothing and returns 'replay'), the exposure rows, the balance rows, the lines.

The caller runs it as a statement of its own outside a transaction, so the lock is held
for the server's own work and the commit, not across client round trips. Every number
the messages need comes back with the status. The database's CHECKs and the deferred
balanced-entry trigger still guard every row written.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_post_checked(
    p_lender bigint, p_currency text, p_reference text, p_kind text, p_date date, p_description text, p_by text,
    p_reverses bigint, p_codes text[], p_debits numeric[], p_credits numeric[], p_merchants bigint[],
    p_merchant bigint, p_amount numeric, p_checks text[], p_replay_on_refusal boolean,
    p_cash_code text, p_borrowings_code text, p_principal_code text, p_capital_codes text[],
    p_default_cap numeric, p_default_single numeric)
RETURNS TABLE (status text, entry_id bigint, posted_at timestamptz, cash numeric, net_capital numeric,
               borrowings numeric, exposure numeric, cap_ratio numeric, single_ratio numeric, rules_version bigint,
               detail text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_accounts bigint[];
    v_unknown text;
    v_cash numeric;
    v_nc numeric;
    v_borrowings numeric;
    v_cap numeric;
    v_single numeric;
    v_version bigint;
    v_exp_merchants bigint[];
    v_exp_deltas numeric[];
    v_exp_existing bigint[] := '{}';
    v_exposure numeric;
    v_keys integer;
    v_rows integer := 0;
    v_refusal text;
    v_detail text;
    v_entry bigint;
    v_posted timestamptz;
    r record;
BEGIN
    -- Lock order: lender position → merchant exposure (merchant id) → balances (account id).
    PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_books'::text, NULL::bigint, NULL::timestamptz, NULL::numeric, NULL::numeric,
                            NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::bigint, NULL::text;
        RETURN;
    END IF;

    SELECT array_agg(a.id ORDER BY l.n), string_agg(l.code, ', ' ORDER BY l.code) FILTER (WHERE a.id IS NULL)
      INTO v_accounts, v_unknown
      FROM unnest(p_codes) WITH ORDINALITY AS l(code, n)
      LEFT JOIN ledger_account a ON a.lender_id = p_lender AND a.code = l.code;
    IF v_unknown IS NOT NULL THEN
        RETURN QUERY SELECT 'unknown_account'::text, NULL::bigint, NULL::timestamptz, NULL::numeric, NULL::numeric,
                            NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::bigint, v_unknown;
        RETURN;
    END IF;

    SELECT coalesce(sum(b.balance) FILTER (WHERE a.code = p_cash_code), 0),
           -coalesce(sum(b.balance) FILTER (WHERE a.code = ANY (p_capital_codes)), 0),
           -coalesce(sum(b.balance) FILTER (WHERE a.code = p_borrowings_code), 0)
      INTO v_cash, v_nc, v_borrowings
      FROM ledger_account a
      JOIN ledger_accountbalance b ON b.account_id = a.id AND b.currency = p_currency
     WHERE a.lender_id = p_lender;
    SELECT s.borrowing_cap_ratio, s.single_borrower_ratio, s.version INTO v_cap, v_single, v_version
      FROM ledger_ruleset s WHERE s.lender_id = p_lender AND s.effective_from <= p_date
     ORDER BY s.effective_from DESC, s.version DESC LIMIT 1;
    IF NOT FOUND THEN  -- the DESIGN.md defaults, as rules_in_force_get
        v_cap := p_default_cap;
        v_single := p_default_single;
        v_version := 0;
    END IF;

    -- Exposure rows of the merchants on principal lines, locked in merchant-id order.
    SELECT array_agg(s.m ORDER BY s.m), array_agg(s.d ORDER BY s.m) INTO v_exp_merchants, v_exp_deltas
      FROM (SELECT l.m, sum(l.d - l.c) AS d
              FROM unnest(p_codes, p_debits, p_credits, p_merchants) AS l(code, d, c, m)
             WHERE l.code = p_principal_code AND l.m IS NOT NULL GROUP BY l.m) s;
    FOR r IN SELECT x.merchant_id, x.principal FROM ledger_merchantexposure x
              WHERE x.merchant_id = ANY (array_append(v_exp_merchants, p_merchant))
              ORDER BY x.merchant_id FOR UPDATE LOOP
        IF r.merchant_id = p_merchant THEN
            v_exposure := r.principal;
        END IF;
        v_exp_existing := v_exp_existing || r.merchant_id;
    END LOOP;
    IF v_exp_merchants IS NOT NULL AND EXISTS (
            SELECT 1 FROM unnest(v_exp_merchants, v_exp_deltas) AS k(m, d)
              LEFT JOIN ledger_merchantexposure x ON x.merchant_id = k.m
             WHERE coalesce(x.principal, 0) + k.d < 0) THEN
        v_refusal := 'exposure';
    END IF;

    -- The balance rows the entry moves, locked in account-id order; the wrong-side rule checked on them.
    SELECT count(DISTINCT a) INTO v_keys FROM unnest(v_accounts) AS a;
    FOR r IN SELECT b.account_id, b.balance, b.sign, b.non_negative, a.name, k.delta
               FROM (SELECT l.acc, sum(l.d - l.c) AS delta
                       FROM unnest(v_accounts, p_debits, p_credits) AS l(acc, d, c) GROUP BY l.acc) k
               JOIN ledger_accountbalance b ON b.account_id = k.acc AND b.currency = p_currency
               JOIN ledger_account a ON a.id = k.acc
              ORDER BY b.account_id FOR UPDATE OF b LOOP
        v_rows := v_rows + 1;
        IF r.non_negative AND (r.balance + r.delta) * r.sign < 0 AND v_detail IS NULL THEN
            v_detail := r.name || '|' || ((r.balance + r.delta) * r.sign)::text;
        END IF;
    END LOOP;
    IF v_rows <> v_keys THEN  -- a balance row is missing: the caller sets the books up and calls again
        RETURN QUERY SELECT 'no_books'::text, NULL::bigint, NULL::timestamptz, NULL::numeric, NULL::numeric,
                            NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::bigint, NULL::text;
        RETURN;
    END IF;

    -- The caller's checks come first (their messages are the ones a user should see), then the generic ones.
    IF 'cash' = ANY (p_checks) AND v_cash < p_amount THEN
        v_refusal := 'cash';
    ELSIF 'single_borrower' = ANY (p_checks)
          AND coalesce(v_exposure, 0) + p_amount > round(greatest(v_nc, 0) * v_single, 2) THEN
        v_refusal := 'single_borrower';
    ELSIF 'outstanding' = ANY (p_checks) AND p_amount > coalesce(v_exposure, 0) THEN
        v_refusal := 'outstanding';
    ELSIF v_refusal IS NULL AND v_detail IS NOT NULL THEN
        v_refusal := 'balance';
    END IF;

    IF v_refusal IS NULL THEN
        INSERT INTO ledger_journalentry AS e (lender_id, reference, kind, business_date, description, reverses_id,
                                              facility_id, posted_at, created_by)
        VALUES (p_lender, p_reference, p_kind, p_date, p_description, p_reverses, NULL, now(), p_by)
        ON CONFLICT ON CONSTRAINT ledger_entry_unique_reference DO NOTHING
        RETURNING e.id, e.posted_at INTO v_entry, v_posted;
        IF v_entry IS NULL THEN
            v_refusal := 'replay';
        END IF;
    ELSIF p_replay_on_refusal THEN
        -- Refused: a retried request whose entry was posted before gets it back instead of the refusal. (Dynamic
        -- SQL, planned with the values: see ledger_position_lock_state.)
        EXECUTE 'SELECT e.id FROM ledger_journalentry e WHERE e.lender_id = $1 AND e.reference = $2'
           INTO v_entry USING p_lender, p_reference;
        IF v_entry IS NOT NULL THEN
            v_refusal := 'replay';
            v_entry := NULL;
        END IF;
    END IF;

    IF v_refusal IS NULL THEN
        IF v_exp_merchants IS NOT NULL THEN
            UPDATE ledger_merchantexposure x SET principal = x.principal + k.d
              FROM unnest(v_exp_merchants, v_exp_deltas) AS k(m, d)
             WHERE x.merchant_id = k.m AND k.m = ANY (v_exp_existing);
            INSERT INTO ledger_merchantexposure (lender_id, merchant_id, principal)
            SELECT p_lender, k.m, k.d FROM unnest(v_exp_merchants, v_exp_deltas) AS k(m, d)
             WHERE NOT k.m = ANY (v_exp_existing) ORDER BY k.m;
        END IF;
        UPDATE ledger_accountbalance b SET balance = b.balance + k.delta
          FROM (SELECT l.acc, sum(l.d - l.c) AS delta
                  FROM unnest(v_accounts, p_debits, p_credits) AS l(acc, d, c) GROUP BY l.acc) k
         WHERE b.account_id = k.acc AND b.currency = p_currency;
        INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
        SELECT v_entry, l.acc, l.d, l.c, p_currency, l.m
          FROM unnest(v_accounts, p_debits, p_credits, p_merchants) AS l(acc, d, c, m);
    END IF;

    RETURN QUERY SELECT coalesce(v_refusal, 'posted'), v_entry, v_posted, v_cash, v_nc, v_borrowings, v_exposure,
                        v_cap, v_single, v_version, CASE WHEN v_refusal = 'balance' THEN v_detail END;
END $$;
"""

BACKWARD = """
DROP FUNCTION ledger_post_checked(bigint, text, text, text, date, text, text, bigint, text[], numeric[], numeric[], bigint[],
                                  bigint, numeric, text[], boolean, text, text, text, text[], numeric, numeric);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_alter_journalentry_kind")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
