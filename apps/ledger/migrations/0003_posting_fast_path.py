"""Fewer round trips and cheaper checks on the money services' serialised section.

* ``ledger_position_lock_state(...)`` takes the lender position lock and then, in the same
  round trip, reads everything a money service decides on: the chart with its base-currency
  balances, whether the reference was posted, the merchant's exposure and the rule set in
  force. It is VOLATILE PL/pgSQL, so under READ COMMITTED the reads after the lock run
  with a fresh snapshot, taken once the lock is held (a single SQL statement would read
  with the snapshot it took *before* waiting for the lock, i.e. stale balances).
  Returns no rows when the lender has no position row yet (the caller sets the books up).
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
        SELECT 'r', e.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
          FROM ledger_journalentry e WHERE e.lender_id = p_lender AND e.reference = p_reference
        UNION ALL
        SELECT 'x', NULL, NULL, NULL, NULL, NULL, x.principal, NULL, NULL, NULL
          FROM ledger_merchantexposure x WHERE x.merchant_id = p_merchant
        UNION ALL
        (SELECT 'g', s.id, NULL, NULL, NULL, NULL, NULL, s.borrowing_cap_ratio, s.single_borrower_ratio, s.version::bigint
           FROM ledger_ruleset s WHERE s.lender_id = p_lender AND s.effective_from <= p_on
          ORDER BY s.effective_from DESC, s.version DESC LIMIT 1);
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
