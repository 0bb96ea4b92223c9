"""A repayment writes an index entry only where a read uses it.

Every repayment inserts an entry, its lines, the repayment, its allocations and an audit row, and each index on
those tables is one more B-tree insert (and its WAL) per row. These are the indexes reads use; one more is a
decision to make here, with the read that needs it.
"""

import pytest
from django.db import connection

WRITTEN = {
    "ledger_journalentry": {
        "(id)", "(lender_id, reference)", "(lender_id, business_date, id)",  # pk; idempotency and a loan's entries; day books
        "(facility_id) WHERE (facility_id IS NOT NULL)", "(reverses_id) WHERE (reverses_id IS NOT NULL)",
    },
    "ledger_journalline": {"(id)", "(entry_id)", "(account_id, entry_id)", "(merchant_id) WHERE (merchant_id IS NOT NULL)"},
    "repayments_repayment": {"(id)", "(loan_id, source, reference)", "(journal_entry_id)"},  # a loan's repayments: the unique
    "repayments_repaymentallocation": {"(id)", "(repayment_id)", "(installment_id)"},
    "core_auditevent": {"(id)", "(subject_type, subject_id, at)", "(actor_id) WHERE (actor_id IS NOT NULL)"},
    "repayments_loaninstallment": {"(id)", "(loan_id, number)"},  # a loan's installments: the unique
}


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(WRITTEN))
def test_the_tables_a_repayment_writes_carry_only_the_indexes_reads_use(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        found = {definition.split(" USING btree ", 1)[1] for (definition,) in cursor.fetchall()}
    assert found == WRITTEN[table]
