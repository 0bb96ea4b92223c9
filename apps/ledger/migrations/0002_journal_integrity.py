"""The database's own guarantees for the journal (Django cannot express them):

* every entry balances per currency and has lines — a DEFERRABLE INITIALLY DEFERRED
  constraint trigger, so an entry's lines can be inserted one by one but the
  transaction cannot commit unbalanced;
* entries and lines are append-only — UPDATE and DELETE are refused (corrections are
  reversing entries). TRUNCATE stays possible for test-database flushes.
"""

from django.db import migrations

BALANCED = """
CREATE FUNCTION ledger_entry_assert_balanced(entry bigint) RETURNS void LANGUAGE plpgsql AS $$
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

CREATE FUNCTION ledger_journalline_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_entry_assert_balanced(NEW.entry_id);
    RETURN NULL;
END $$;

CREATE FUNCTION ledger_journalentry_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_entry_assert_balanced(NEW.id);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_journalline_balanced
    AFTER INSERT ON ledger_journalline DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_journalline_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_journalentry_has_lines
    AFTER INSERT ON ledger_journalentry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_journalentry_check_balanced();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (post a reversing entry instead)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ledger_journalentry_append_only BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_journalline_append_only BEFORE UPDATE OR DELETE ON ledger_journalline
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

UNDO = """
DROP TRIGGER ledger_journalline_append_only ON ledger_journalline;
DROP TRIGGER ledger_journalentry_append_only ON ledger_journalentry;
DROP FUNCTION ledger_refuse_change();
DROP TRIGGER ledger_journalentry_has_lines ON ledger_journalentry;
DROP TRIGGER ledger_journalline_balanced ON ledger_journalline;
DROP FUNCTION ledger_journalentry_check_balanced();
DROP FUNCTION ledger_journalline_check_balanced();
DROP FUNCTION ledger_entry_assert_balanced(bigint);
"""

# One-year LPR as published (percent): 3.10 from 2024-10-21, 3.00 from 2025-05-20.
LPR = [("2024-10-21", "3.1000"), ("2025-05-20", "3.0000")]


def seed_lpr(apps, schema_editor):
    LprRate = apps.get_model("ledger", "LprRate")
    for day, rate in LPR:
        LprRate.objects.get_or_create(effective_from=day, defaults={"one_year_rate": rate})


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunSQL(BALANCED, UNDO),
        migrations.RunPython(seed_lpr, migrations.RunPython.noop),
    ]
