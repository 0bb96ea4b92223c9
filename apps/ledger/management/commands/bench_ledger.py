"""Benchmark: loan-funding postings through the real service against pgbench on the same server.

    manage.py bench_ledger [--clients 4] [--duration 20] [--scale 10]

Both halves run in throwaway databases on the configured PostgreSQL server (created here,
dropped afterwards): the ledger half in a fully migrated copy of the schema, pgbench
(tpcb-like) in its own. N client processes, each with its own connection, post loan
fundings for D seconds — all against ONE lender, so they contend for its position lock
exactly as production requests would. Afterwards every limit is re-checked from the
books. Prints one JSON line:

    {"postings_per_s": …, "pgbench_tps": …, "ratio": …, "cap_violations": 0, …}
"""

from decimal import Decimal

from django.db.models import Sum

from apps.core.benchmarks import PgbenchComparison, clients_run

AMOUNT = Decimal("100.00")
MERCHANTS_PER_CLIENT = 25


def _client(index: int, payload: tuple[int, list[int]]):
    """One client process: its lender and merchants loaded, each attempt posts a loan funding to the next merchant."""
    from apps.accounts.models import Lender
    from apps.ledger.services import loan_funding_post
    from apps.merchants.models import Merchant

    lender_id, merchant_ids = payload
    lender = Lender.objects.get(pk=lender_id)
    merchants = list(Merchant.objects.filter(pk__in=merchant_ids))
    return lambda n: loan_funding_post(lender=lender, merchant=merchants[n % len(merchants)], amount=AMOUNT,
                                       reference=f"bench-{index}-{n}", actor="bench")


class Command(PgbenchComparison):
    help = "Loan-funding postings/s (N clients, real service) vs pgbench tpcb-like TPS on the same server; one JSON line."
    rate_key = "postings_per_s"
    scratch_suffix = "bench_ledger"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--lenders", type=int, default=1,
                            help="spread clients over this many lenders (1 = all contend for one lender's lock)")

    def measure(self, *, clients, duration, lenders, **options) -> dict:
        lenders = max(1, min(lenders, clients))
        setups = [self._lender_setup(n, clients) for n in range(lenders)]
        self.log(f"{clients} clients posting loan fundings for {duration:g}s across {lenders} lender(s) …")
        per_lender = -(-clients // lenders)  # clients sharing one lender (rounded up)
        payloads = []
        for i in range(clients):
            lender_id, merchant_ids = setups[i % lenders]
            payloads.append((lender_id, merchant_ids[i // lenders::per_lender]))  # each client its own borrowers
        counts, elapsed = clients_run(_client, payloads, duration)
        posted, refused, errors = (sum(c[k] for c in counts) for k in range(3))
        from apps.accounts.models import Lender

        violations = sum(self._violations(Lender.objects.get(pk=lender_id)) for lender_id, _ in setups)
        return {"postings_per_s": posted / elapsed, "cap_violations": violations, "lenders": lenders, "posted": posted,
                "refused": refused, "errors": errors}

    def _lender_setup(self, n: int, clients: int) -> tuple[int, list[int]]:
        from apps.accounts.models import Lender
        from apps.ledger.services import drawdown_record, equity_inject, facility_open, ledger_setup_ensure
        from apps.merchants.models import Merchant

        lender = Lender.objects.create(slug=f"bench-{n}", name=f"Bench Small Loan Co {n}")
        ledger_setup_ensure(lender=lender)
        equity_inject(lender=lender, amount=Decimal("100000000000.00"), reference="bench-equity", actor="bench")
        # Borrow right up to the cap, so that the limit is live during the run.
        facility = facility_open(lender=lender, bank_name="Bench Bank", limit=Decimal("50000000000.00"),
                                 annual_rate=Decimal("4"), actor="bench")
        drawdown_record(facility=facility, amount=Decimal("50000000000.00"), reference="bench-draw", actor="bench")
        merchants = Merchant.objects.bulk_create([
            Merchant(lender=lender, company_name=f"Bench shop {n}-{i}", store_handle=f"bench-{n}-{i}", contact_name="Bench",
                     contact_email=f"b{i}@bench.test", contact_phone="0", bank_name="B", bank_account_name="B",
                     bank_account_number="0")
            for i in range(clients * MERCHANTS_PER_CLIENT)])
        return lender.pk, [m.pk for m in merchants]

    def _violations(self, lender) -> int:
        """Re-check every limit from the books after the run."""
        from apps.ledger.models import MerchantExposure
        from apps.ledger.selectors import capital_position_get, trial_balance_all_currencies_zero

        position = capital_position_get(lender=lender)
        over_single = MerchantExposure.objects.filter(lender=lender, principal__gt=position.single_borrower_limit).count()
        exposure = MerchantExposure.objects.filter(lender=lender).aggregate(s=Sum("principal"))["s"] or 0
        principal_ok = exposure == _principal(lender)  # the exposure sub-ledger reconciles to the GL
        return (int(position.borrowings > position.cap_amount) + over_single + int(position.cash < 0)
                + int(not trial_balance_all_currencies_zero(lender=lender)) + int(not principal_ok))


def _principal(lender) -> Decimal:
    from apps.ledger.models import Acct
    from apps.ledger.selectors import balances_by_code_get

    return balances_by_code_get(lender=lender).get(Acct.LOANS_PRINCIPAL, Decimal("0"))

