"""The balanced-entry constraint triggers run their one query themselves.

They used to ``PERFORM ledger_entry_assert_balanced(id)``: a statement that calls a second
function that runs the query — two statements and two function calls for each of the three
times a two-line entry's triggers fire at commit. Same checks, same errors, same deferred
constraint triggers (migration 0002); only the indirection goes.
"""

from importlib import import_module

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION ledger_journalline_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT l.currency, sum(l.debit) AS d, sum(l.credit) AS c INTO bad
      FROM ledger_journalline l WHERE l.entry_id = NEW.entry_id
     GROUP BY l.currency HAVING sum(l.debit) <> sum(l.credit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is unbalanced in %: debits % credits %', NEW.entry_id, bad.currency, bad.d, bad.c
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_journalentry_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total record;
    found_lines boolean := false;
BEGIN
    FOR total IN SELECT l.currency, sum(l.debit) AS d, sum(l.credit) AS c
                   FROM ledger_journalline l WHERE l.entry_id = NEW.id GROUP BY l.currency LOOP
        found_lines := true;
        IF total.d <> total.c THEN
            RAISE EXCEPTION 'journal entry % is unbalanced in %: debits % credits %', NEW.id, total.currency, total.d, total.c
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    IF NOT found_lines THEN
        RAISE EXCEPTION 'journal entry % has no lines', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

DROP FUNCTION ledger_entry_assert_balanced(bigint);
"""

def _function(sql: str, name: str) -> str:
    """One CREATE [OR REPLACE] FUNCTION … END $$; statement out of an earlier migration's SQL."""
    head = sql.index(f"FUNCTION {name}(")
    start = sql.rindex("CREATE", 0, head)
    return "CREATE OR REPLACE " + sql[sql.index("FUNCTION", start):sql.index("END $$;", head) + len("END $$;")] + "\n"


_INTEGRITY = import_module("apps.ledger.migrations.0002_journal_integrity").BALANCED
_FAST_PATH = import_module("apps.ledger.migrations.0003_posting_fast_path").FORWARD
# Back to the triggers of 0002 calling the checking function as 0003 left it.
BACKWARD = (_function(_FAST_PATH, "ledger_entry_assert_balanced") + _function(_INTEGRITY, "ledger_journalline_check_balanced")
            + _function(_INTEGRITY, "ledger_journalentry_check_balanced"))


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_lean_indexes")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
