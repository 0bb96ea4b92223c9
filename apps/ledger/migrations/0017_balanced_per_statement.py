"""Every statement that writes journal lines writes a balanced set of them, checked once per statement.

Until now each line queued a deferred trigger that summed all its entry's lines at commit, and the
entry's own trigger summed them once more: a two-line entry was checked three times, each a PL/pgSQL
call and a query. Now:

* ``ledger_journalline_balanced`` is a statement-level trigger over the statement's new lines (a
  transition table): for each entry and currency they must net to zero. Lines are append-only, so an
  entry whose every batch of lines balances is balanced; a batch added to an entry later must balance
  on its own. (Writing one entry's lines over several statements, each unbalanced, is no longer
  possible; every posting writes them in one.)
* ``ledger_journalentry_has_lines`` stays deferred to commit and only asks whether the entry has lines.

The same errors as before ('journal entry % is unbalanced in %: …', 'journal entry % has no lines'),
raised at the statement instead of at commit for an unbalanced batch.
"""

from importlib import import_module

from django.db import migrations

FORWARD = """
DROP TRIGGER ledger_journalline_balanced ON ledger_journalline;
DROP TRIGGER ledger_journalentry_has_lines ON ledger_journalentry;
DROP FUNCTION ledger_journalentry_check_balanced();

CREATE OR REPLACE FUNCTION ledger_journalline_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.entry_id, n.currency, sum(n.debit) AS d, sum(n.credit) AS c INTO bad
      FROM new_lines n GROUP BY n.entry_id, n.currency HAVING sum(n.debit) <> sum(n.credit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is unbalanced in %: debits % credits %', bad.entry_id, bad.currency, bad.d, bad.c
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION ledger_journalentry_check_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM ledger_journalline l WHERE l.entry_id = NEW.id) THEN
        RAISE EXCEPTION 'journal entry % has no lines', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
-- By the entry's index, whatever the statistics say: planned while the journal was small, an EXISTS would scan it
-- whole for the newest entry's lines long after it had grown (bench-ledger fell from 0.78 to 0.30).
ALTER FUNCTION ledger_journalentry_check_lines() SET enable_seqscan = off;

CREATE TRIGGER ledger_journalline_balanced AFTER INSERT ON ledger_journalline REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_journalline_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_journalentry_has_lines
    AFTER INSERT ON ledger_journalentry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_journalentry_check_lines();
"""

_function = import_module("apps.ledger.migrations.0009_balanced_trigger_inline")._function
_INLINE = import_module("apps.ledger.migrations.0009_balanced_trigger_inline").FORWARD
_INTEGRITY = import_module("apps.ledger.migrations.0002_journal_integrity").BALANCED
# Back to 0009's functions behind 0002's deferred row triggers.
BACKWARD = ("""
DROP TRIGGER ledger_journalline_balanced ON ledger_journalline;
DROP TRIGGER ledger_journalentry_has_lines ON ledger_journalentry;
DROP FUNCTION ledger_journalentry_check_lines();
""" + _function(_INLINE, "ledger_journalline_check_balanced") + _function(_INLINE, "ledger_journalentry_check_balanced")
            + _INTEGRITY[_INTEGRITY.index("CREATE CONSTRAINT TRIGGER ledger_journalline_balanced"):
                         _INTEGRITY.index("CREATE FUNCTION ledger_refuse_change")])


class Migration(migrations.Migration):
    dependencies = [("ledger", "0016_balance_slices")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
