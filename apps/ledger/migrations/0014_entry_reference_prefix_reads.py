"""One loan's entries are read by key, not by scanning the lender's whole journal or every merchant's exposure.

* ``JournalEntry.reference`` takes the bytewise "C" collation. Entries are found by reference prefix
  (``accrual:<loan>:``, ``repayment:<loan>:`` …: the loan's last accrual, its timeline); under any other collation
  the (lender, reference) index cannot serve a ``LIKE 'prefix%'`` and each such read scanned the lender's journal.
  Equality, hence uniqueness, is unchanged; the column keeps its data (no table rewrite, the index is rebuilt).
* ``ledger_post_checked`` runs with sequential scans off, as ``repayments_post_fast`` does: its generic plan takes
  the merchants it posts for (an unnest, estimated at ten rows) and, near the planner's tipping point, hash-joined
  them to every merchant's exposure row instead of looking each one up.
"""

from django.db import migrations, models

_CHECKED = ("ledger_post_checked(bigint, text, text, text, date, text, text, bigint, text[], numeric[], numeric[], bigint[], "
            "bigint, numeric, text[], boolean, text, text, text, text[], numeric, numeric, text)")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0013_reapplication_suspense")]

    operations = [
        migrations.AlterField(
            model_name="journalentry",
            name="reference",
            field=models.CharField(db_collation="C", help_text="The business event's idempotency key", max_length=255),
        ),
        migrations.RunSQL(f"ALTER FUNCTION {_CHECKED} SET enable_seqscan = off",
                          f"ALTER FUNCTION {_CHECKED} RESET enable_seqscan"),
    ]
