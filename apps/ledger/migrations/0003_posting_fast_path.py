"""Fewer round trips and cheaper checks on the money services' serialised section.

* ``ledger_position_lock_state(...)`` takes the lender position lock and then, in the same
  round trip, reads everything a money service decides on: the chart with its base-currency
  balances, whether the reference was posted, the merchant's exposure and the rule set in
  force. It is VOLATILE PL/pgSQL, so under READ COMMITTED the reads after the lock run
  with a fresh snapshot, taken once the lock is held (a single SQL statement would read
  with the snapshot it took *before* waiting for the lock, i.e. stale balances).
  Returns no rows when the lender has no position row yet (the caller sets the books up).
* ``ledger_post_entry(...)`` writes one entry the posting service has validated: the
  merchant exposure rows (merchant-id order), the facility's ``drawn``, the balance rows
  (locked in account-id order, then updated), the entry and its lines — one call whose
  statements are planned once per session (the equivalent CTE was parsed and planned on
  every posting, inside the lender's serialised section). The database's CHECKs and the
  deferred balance trigger still guard every row it writes.
* ``ledger_entry_assert_balanced`` does its work in one query instead of two (same
  errors, same deferred constraint triggers).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_position_lock_state(p_lender bigint, p_currency text, p_reference text, p_merchant bigint, p_on date)
RETURNS TABLE (kind text, id bigint, code text, name text, side text, flag boolean, amount numeric,
               ratio1 numeric, ratio2 numeric, version bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM ledger_lenderposition WHERE lender_id = p_lender FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'a', a.id, a.code::text, a.name::text, a.normal_side::text, a.non_negative, b.balance,
               NULL::numeric, NULL::numeric, NULL::bigint
          FROM ledger_account a
          LEFT JOIN ledger_accountbalance b ON b.account_id = a.id AND b.currency = p_currency
         WHERE a.lender_id = p_lender
        UNION ALL
        SELECT 'x', NULL, NULL, NULL, NULL, NULL, x.principal, NULL, NULL, NULL
          FROM ledger_merchantexposure x WHERE x.merchant_id = p_merchant
        UNION ALL
        (SELECT 'g', s.id, NULL, NULL, NULL, NULL, NULL, s.borrowing_cap_ratio, s.single_borrower_ratio, s.version::bigint
           FROM ledger_ruleset s WHERE s.lender_id = p_lender AND s.effective_from <= p_on
          ORDER BY s.effective_from DESC, s.version DESC LIMIT 1);
    -- Dynamic SQL, planned with the actual values on every call: a cached generic plan chosen while the journal
    -- was small may scan the lender_id index (every entry of the lender) instead of the unique (lender, reference)
    -- index, which makes each posting slower as the journal grows.
    RETURN QUERY EXECUTE
        'SELECT ''r''::text, e.id, NULL::text, NULL::text, NULL::text, NULL::boolean, NULL::numeric, NULL::numeric,'
        ' NULL::numeric, NULL::bigint FROM ledger_journalentry e WHERE e.lender_id = $1 AND e.reference = $2'
        USING p_lender, p_reference;
END $$;

CREATE FUNCTION ledger_post_entry(
    p_lender bigint, p_reference text, p_kind text, p_date date, p_description text, p_reverses bigint,
    p_facility bigint, p_by text, p_facility_delta numeric,
    p_accounts bigint[], p_debits numeric[], p_credits numeric[], p_currencies text[], p_merchants bigint[],
    p_bal_accounts bigint[], p_bal_currencies text[], p_bal_deltas numeric[],
    p_exp_merchants bigint[], p_exp_deltas numeric[], p_exp_new boolean[])
RETURNS TABLE (new_entry_id bigint, new_posted_at timestamptz, balances_updated integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_entry bigint;
    v_posted timestamptz;
    v_updated integer;
BEGIN
    -- Lock order: (lender position, held by the caller) → merchant exposure by merchant id → facility → balances by id.
    IF p_exp_merchants IS NOT NULL THEN
        FOR i IN 1 .. coalesce(array_length(p_exp_merchants, 1), 0) LOOP  -- the caller sorts by merchant id
            IF p_exp_new[i] THEN
                INSERT INTO ledger_merchantexposure (lender_id, merchant_id, principal)
                VALUES (p_lender, p_exp_merchants[i], p_exp_deltas[i]);
            ELSE
                UPDATE ledger_merchantexposure SET principal = principal + p_exp_deltas[i] WHERE merchant_id = p_exp_merchants[i];
            END IF;
        END LOOP;
    END IF;
    IF p_facility_delta <> 0 THEN
        UPDATE ledger_borrowingfacility SET drawn = drawn + p_facility_delta WHERE id = p_facility;
    END IF;
    PERFORM 1 FROM ledger_accountbalance b
      JOIN unnest(p_bal_accounts, p_bal_currencies) AS k(account_id, currency)
        ON b.account_id = k.account_id AND b.currency = k.currency
     ORDER BY b.account_id, b.currency FOR UPDATE OF b;
    UPDATE ledger_accountbalance b SET balance = b.balance + k.delta
      FROM unnest(p_bal_accounts, p_bal_currencies, p_bal_deltas) AS k(account_id, currency, delta)
     WHERE b.account_id = k.account_id AND b.currency = k.currency;
    GET DIAGNOSTICS v_updated = ROW_COUNT;
    INSERT INTO ledger_journalentry (lender_id, reference, kind, business_date, description, reverses_id, facility_id,
                                     posted_at, created_by)
    VALUES (p_lender, p_reference, p_kind, p_date, p_description, p_reverses, p_facility, now(), p_by)
    RETURNING id, ledger_journalentry.posted_at INTO v_entry, v_posted;
    INSERT INTO ledger_journalline (entry_id, account_id, debit, credit, currency, merchant_id)
    SELECT v_entry, l.account_id, l.debit, l.credit, l.currency, l.merchant_id
      FROM unnest(p_accounts, p_debits, p_credits, p_currencies, p_merchants)
        AS l(account_id, debit, credit, currency, merchant_id);
    RETURN QUERY SELECT v_entry, v_posted, v_updated;
END $$;

CREATE OR REPLACE FUNCTION ledger_entry_assert_balanced(entry bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    total record;
    found_lines boolean := false;
BEGIN
    FOR total IN SELECT currency, sum(debit) AS d, sum(credit) AS c
                   FROM ledger_journalline WHERE entry_id = entry GROUP BY currency LOOP
        found_lines := true;
        IF total.d <> total.c THEN
            RAISE EXCEPTION 'journal entry % is unbalanced in %: debits % credits %', entry, total.currency, total.d, total.c
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    IF NOT found_lines THEN
        RAISE EXCEPTION 'journal entry % has no lines', entry USING ERRCODE = 'check_violation';
    END IF;
END $$;
"""

BACKWARD = """
DROP FUNCTION ledger_position_lock_state(bigint, text, text, bigint, date);
DROP FUNCTION ledger_post_entry(bigint, text, text, date, text, bigint, bigint, text, numeric, bigint[], numeric[], numeric[],
                                text[], bigint[], bigint[], text[], numeric[], bigint[], numeric[], boolean[]);

CREATE OR REPLACE FUNCTION ledger_entry_assert_balanced(entry bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_journalline WHERE entry_id = entry) THEN
        RAISE EXCEPTION 'journal entry % has no lines', entry USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency, sum(debit) AS d, sum(credit) AS c INTO bad
      FROM ledger_journalline WHERE entry_id = entry
     GROUP BY currency HAVING sum(debit) <> sum(credit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is unbalanced in %: debits % credits %', entry, bad.currency, bad.d, bad.c
            USING ERRCODE = 'check_violation';
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_journal_integrity")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
