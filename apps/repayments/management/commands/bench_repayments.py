"""Benchmark: repayments through the real service (repayment_post) against pgbench on the same server.

    manage.py bench_repayments [--clients 4] [--duration 20] [--scale 10] [--loans 2000]

In a throwaway, fully migrated database (apps.core.benchmarks) a book of active loans is
loaded set-based: one lender, a merchant per five loans; 70% pre-sale advances current
(started 1–40 days ago), 10% advances past due by 1–30 days with penalty interest accrued,
20% three-month term loans (equal principal). End of day ran yesterday: interest and
penalties are accrued through yesterday in the sub-ledger, and one opening entry puts the
book on the GL (principal tagged per merchant, so the exposure sub-ledger matches). N
client processes, each with its own connection and its own share of the loans, post
repayments of 10.00–49.00 received today for D seconds — all for ONE lender, so they queue
on its position lock as production requests would; each loan's first repayment accrues
today's interest. Then the reconciliation runs. Prints one JSON line:

    {"repayments_per_s": …, "pgbench_tps": …, "ratio": …, "reconciliation_difference": "0.00", …}

reconciliation_difference is the sum of |GL − sub-ledger| over every control account.
"""

import datetime
import time
from decimal import Decimal

from django.db import connection

from apps.core.benchmarks import PgbenchComparison, clients_run
from apps.core.calendar import business_date_today

ZERO = Decimal("0.00")

# %(d)s is yesterday: the last date end of day ran. g % 10 = 0: an advance past due by 1–30 days; g % 5 = 1: a term loan;
# otherwise a current advance. Interest (ACT/360 at 12%) and penalties (10%) accrued through yesterday.
_BOOK_SQL = """
INSERT INTO merchants_merchant (lender_id, company_name, store_handle, contact_name, contact_email, contact_phone, bank_name,
    bank_account_name, bank_account_number, kyc_state, kyc_decision_reason, risk_grade, credit_limit, created_at)
SELECT %(lender)s, 'Bench shop ' || g, %(slug)s || '-shop-' || g, 'Owner ' || g, 'shop' || g || '@bench.test', '0', 'Bank',
       'Bench shop ' || g, lpad(g::text, 12, '0'), 'verified', '', 'B', 1000000, now()
FROM generate_series(1, %(merchants)s) g;

INSERT INTO financing_financingapplication (product_id, merchant_id, amount, currency, state, decision_note, created_at)
SELECT (SELECT min(id) FROM financing_loanproduct WHERE lender_id = %(lender)s AND kind = 'presale_advance'),
       m.first + g %% %(merchants)s, 5000 + (g %% 50) * 100, 'CNY', 'disbursed', '', now()
FROM generate_series(1, %(loans)s) g
CROSS JOIN (SELECT min(id) AS first FROM merchants_merchant WHERE lender_id = %(lender)s) m;

INSERT INTO repayments_loan (application_id, merchant_id, product, repayment_method, allocation_strategy, currency, principal,
    lender_principal,
    partner_principal,
    annual_rate, day_count, penalty_annual_rate, penalty_accrued_through, apr, start_date, maturity_date, state, disbursed_at,
    created_at)
SELECT a.id, a.merchant_id, CASE WHEN s.term THEN 'term_loan' ELSE 'presale_advance' END,
       CASE WHEN s.term THEN 'equal_principal' ELSE 'bullet' END, 'default', 'CNY', a.amount, a.amount, 0,
       0.1200, 'ACT/360', 0.1000, %(d)s, 0.1200, s.start,
       CASE WHEN s.term THEN (s.start + interval '3 months')::date ELSE s.start + 60 END,
       CASE WHEN s.overdue THEN 'overdue' ELSE 'active' END, now(), now()
FROM (SELECT a.*, row_number() OVER (ORDER BY a.id) AS g FROM financing_financingapplication a
      JOIN merchants_merchant m ON m.id = a.merchant_id WHERE m.lender_id = %(lender)s) a
CROSS JOIN LATERAL (
    SELECT a.g %% 5 = 1 AS term, a.g %% 10 = 0 AS overdue,
           CASE WHEN a.g %% 10 = 0 THEN %(d)s - 61 - ((a.g / 10) %% 30)::int
                WHEN a.g %% 5 = 1 THEN %(d)s - (a.g %% 25)::int
                ELSE %(d)s - (a.g %% 40)::int END AS start
) s
ORDER BY a.id;

INSERT INTO repayments_loaninstallment (loan_id, number, due_date, principal_due, interest_due, fee_due, interest_accrued,
    fee_accrued, penalty_accrued, penalty_paid, principal_paid, interest_paid, fee_paid)
SELECT l.id, 1, l.maturity_date, l.principal, i.due, 0,
       CASE WHEN l.maturity_date <= %(d)s THEN i.due ELSE round(i.due * (%(d)s - l.start_date) / 60, 2) END, 0,
       CASE WHEN l.maturity_date < %(d)s THEN round(l.principal * 0.1000 / 360, 2) * (%(d)s - l.maturity_date) ELSE 0 END,
       0, 0, 0, 0
FROM repayments_loan l CROSS JOIN LATERAL (SELECT round(l.principal * 0.12 * 60 / 360, 2) AS due) i
WHERE l.product = 'presale_advance' AND l.merchant_id IN (SELECT id FROM merchants_merchant WHERE lender_id = %(lender)s);

INSERT INTO repayments_loaninstallment (loan_id, number, due_date, principal_due, interest_due, fee_due, interest_accrued,
    fee_accrued, penalty_accrued, penalty_paid, principal_paid, interest_paid, fee_paid)
SELECT l.id, n, x.due, x.p, x.i, 0,
       CASE WHEN x.since >= %(d)s THEN 0 ELSE round(x.i * (%(d)s - x.since) / (x.due - x.since), 2) END, 0, 0, 0, 0, 0, 0
FROM repayments_loan l
CROSS JOIN LATERAL generate_series(1, 3) n
CROSS JOIN LATERAL (
    SELECT (l.start_date + make_interval(months => n))::date AS due,
           (l.start_date + make_interval(months => n - 1))::date AS since,
           CASE WHEN n < 3 THEN round(l.principal / 3, 2) ELSE l.principal - 2 * round(l.principal / 3, 2) END AS p,
           round((l.principal - (n - 1) * round(l.principal / 3, 2)) * 0.01, 2) AS i
) x
WHERE l.product = 'term_loan' AND l.merchant_id IN (SELECT id FROM merchants_merchant WHERE lender_id = %(lender)s);

INSERT INTO repayments_penaltyaccrual (loan_id, installment_id, period_start, period_end, amount)
SELECT i.loan_id, i.id, i.due_date, %(d)s, i.penalty_accrued FROM repayments_loaninstallment i
JOIN repayments_loan l ON l.id = i.loan_id JOIN merchants_merchant m ON m.id = l.merchant_id
WHERE i.penalty_accrued > 0 AND m.lender_id = %(lender)s;
"""


def _client(index: int, loan_ids: list[int]):
    """One client process: its loans loaded, each attempt posts a repayment on the next one, in turn."""
    from apps.repayments.models import Loan
    from apps.repayments.services import repayment_post

    today = business_date_today()
    loans = list(Loan.objects.filter(pk__in=loan_ids).select_related("merchant__lender").order_by("id"))
    return lambda n: repayment_post(loan=loans[(n - 1) % len(loans)], amount=Decimal(10 + n % 40), source="partner",
                                    reference=f"bench-{index}-{n}", actor="bench", received_on=today)


class Command(PgbenchComparison):
    help = "Repayments/s (N clients, real repayment_post) vs pgbench tpcb-like TPS on the same server; one JSON line."
    rate_key = "repayments_per_s"
    scratch_suffix = "bench_repayments"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--loans", type=int, default=2000, help="active loans in the book")

    def measure(self, *, clients, duration, loans, **options) -> dict:
        lender, loan_ids = self._book_load(max(loans, clients))
        self.log(f"{clients} clients posting repayments for {duration:g}s …")
        counts, elapsed = clients_run(_client, [loan_ids[i::clients] for i in range(clients)], duration)
        posted, refused, errors = (sum(c[k] for c in counts) for k in range(3))
        from apps.repayments.models import Repayment
        from apps.repayments.selectors import reconciliation_get

        self.log("reconciliation …")
        difference = sum((abs(row.difference) for row in reconciliation_get(lender=lender)), ZERO)
        stored = Repayment.objects.filter(loan__merchant__lender=lender).count()
        return {"repayments_per_s": posted / elapsed, "reconciliation_difference": f"{difference:.2f}", "loans": len(loan_ids),
                "posted": posted, "refused": refused, "errors": errors, "stored": stored}

    def _book_load(self, loans: int, slug: str = "bench"):
        from apps.accounts.models import Lender
        from apps.financing.products import loan_products_default_ensure
        from apps.ledger.models import Acct
        from apps.ledger.posting import cr, dr, journal_post
        from apps.ledger.services import ledger_setup_ensure
        from apps.repayments.models import Loan

        started = time.monotonic()
        lender = Lender.objects.create(slug=slug, name="Bench Small Loan Co")
        ledger_setup_ensure(lender=lender)
        loan_products_default_ensure(lender=lender)
        yesterday = business_date_today() - datetime.timedelta(days=1)
        with connection.cursor() as cursor:
            cursor.execute(_BOOK_SQL, {"lender": lender.pk, "slug": slug, "loans": loans, "merchants": max(1, loans // 5),
                                       "d": yesterday})
            book = ("FROM repayments_loaninstallment i JOIN repayments_loan l ON l.id = i.loan_id"
                    " JOIN merchants_merchant m ON m.id = l.merchant_id WHERE m.lender_id = %s")
            cursor.execute(f"SELECT l.merchant_id, sum(i.principal_due) {book} GROUP BY 1 ORDER BY 1", [lender.pk])
            principal = cursor.fetchall()
            cursor.execute(f"SELECT sum(i.interest_accrued), sum(i.penalty_accrued) {book}", [lender.pk])
            interest, penalty = cursor.fetchone()
            cursor.execute("ANALYZE")
        # The book on the GL as disbursements (funded by capital) and end of day's accruals would have put it.
        total = sum((p for _, p in principal), ZERO)
        lines = [dr(Acct.LOANS_PRINCIPAL, p, merchant=m) for m, p in principal] + [cr(Acct.PAID_IN_CAPITAL, total)]
        lines += [dr(Acct.LOANS_INTEREST, interest), cr(Acct.INTEREST_INCOME, interest)] if interest else []
        lines += [dr(Acct.LOANS_PENALTIES, penalty), cr(Acct.PENALTY_INCOME, penalty)] if penalty else []
        journal_post(lender=lender, reference="bench-opening", actor="bench", description="Opening book", lines=lines,
                     business_date=yesterday)
        loan_ids = list(Loan.objects.filter(merchant__lender=lender).order_by("id").values_list("id", flat=True))
        self.log(f"book of {len(loan_ids)} loans loaded in {time.monotonic() - started:.1f}s")
        return lender, loan_ids
