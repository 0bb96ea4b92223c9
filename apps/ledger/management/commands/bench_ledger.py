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

import json
import multiprocessing
import re
import subprocess
import sys
import time
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.db.models import Sum

AMOUNT = Decimal("100.00")
MERCHANTS_PER_CLIENT = 25


def _client(index: int, lender_id: int, merchant_ids: list[int], deadline: float, results) -> None:
    """One client process: post loan fundings until the deadline; report (posted, refused, errors)."""
    from apps.accounts.models import Lender
    from apps.core.errors import DomainError
    from apps.ledger.services import loan_funding_post
    from apps.merchants.models import Merchant

    connections.close_all()  # never share the parent's socket
    lender = Lender.objects.get(pk=lender_id)
    merchants = list(Merchant.objects.filter(pk__in=merchant_ids))
    posted = refused = errors = 0
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            loan_funding_post(lender=lender, merchant=merchants[n % len(merchants)], amount=AMOUNT,
                              reference=f"bench-{index}-{n}", actor="bench")
            posted += 1
        except DomainError:
            refused += 1
        except Exception:  # noqa: BLE001 - counted and reported; a benchmark must finish
            errors += 1
    connections.close_all()
    results.put((posted, refused, errors))


class Command(BaseCommand):
    help = "Loan-funding postings/s (N clients, real service) vs pgbench tpcb-like TPS on the same server; one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=4)
        parser.add_argument("--duration", type=int, default=20, help="seconds for each half")
        parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
        parser.add_argument("--lenders", type=int, default=1,
                            help="spread clients over this many lenders (1 = all contend for one lender's lock)")
        parser.add_argument("--skip-pgbench", action="store_true")

    def handle(self, *args, clients, duration, scale, lenders, skip_pgbench, **options):
        base = settings.DATABASES["default"]
        scratch = f"{base['NAME']}_bench_ledger"
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = scratch
        self._log(f"creating {scratch} …")
        creation = connection.creation
        old_name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            postings_per_s, counts, violations = self._ledger_half(clients, duration, max(1, min(lenders, clients)))
        finally:
            connections.close_all()
            creation.destroy_test_db(old_name, verbosity=0)
        pgbench_tps = None if skip_pgbench else self._pgbench(base, clients, duration, scale)
        ratio = round(postings_per_s / pgbench_tps, 3) if pgbench_tps else None
        self.stdout.write(json.dumps({
            "postings_per_s": round(postings_per_s, 1), "pgbench_tps": pgbench_tps, "ratio": ratio,
            "cap_violations": violations, "clients": clients, "lenders": lenders, "duration_s": duration, "posted": counts[0],
            "refused": counts[1], "errors": counts[2],
        }))

    def _log(self, message: str) -> None:
        self.stderr.write(f"bench_ledger: {message}")

    def _ledger_half(self, clients: int, duration: int, lenders: int):
        setups = [self._lender_setup(n, clients) for n in range(lenders)]
        connections.close_all()

        self._log(f"{clients} clients posting loan fundings for {duration}s across {lenders} lender(s) …")
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        start = time.monotonic()
        deadline = start + duration
        procs = []
        per_lender = -(-clients // lenders)  # clients sharing one lender (rounded up)
        for i in range(clients):
            lender_id, merchant_ids = setups[i % lenders]
            share = merchant_ids[i // lenders::per_lender]  # each client its own borrowers
            procs.append(ctx.Process(target=_client, args=(i, lender_id, share, deadline, results)))
        for p in procs:
            p.start()
        counts = [results.get(timeout=duration + 120) for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.monotonic() - start
        totals = tuple(sum(c[k] for c in counts) for k in range(3))
        from apps.accounts.models import Lender

        violations = sum(self._violations(Lender.objects.get(pk=lender_id)) for lender_id, _ in setups)
        return totals[0] / elapsed, totals, violations

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

    def _pgbench(self, base: dict, clients: int, duration: int, scale: int) -> float:
        import psycopg
        from psycopg import sql

        from orderfin.devservices import pgbench_path

        binary = pgbench_path()
        name = f"{base['NAME']}_bench_pgbench"
        admin = psycopg.connect(host=base["HOST"] or "127.0.0.1", port=base["PORT"] or 5432, user=base["USER"],
                                password=base["PASSWORD"] or None, dbname="postgres", autocommit=True)
        env_args = ["-h", str(base["HOST"] or "127.0.0.1"), "-p", str(base["PORT"] or 5432), "-U", base["USER"]]
        env = {"PGPASSWORD": base["PASSWORD"]} if base["PASSWORD"] else {}
        try:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self._log(f"pgbench -i -s {scale} …")
            _run([binary, "-i", "-q", "-s", str(scale), *env_args, name], env)
            self._log(f"pgbench tpcb-like, {clients} clients, {duration}s …")
            out = _run([binary, "-b", "tpcb-like", "-c", str(clients), "-j", str(clients), "-T", str(duration), "-n",
                        *env_args, name], env)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.close()
        match = re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)", out)
        if not match:
            raise CommandError(f"could not read pgbench's TPS:\n{out}")
        return round(float(match.group(1)), 1)


def _principal(lender) -> Decimal:
    from apps.ledger.models import Acct
    from apps.ledger.selectors import balances_by_code_get

    return balances_by_code_get(lender=lender).get(Acct.LOANS_PRINCIPAL, Decimal("0"))


def _run(command: list[str], env: dict) -> str:
    import os

    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise CommandError(f"{command[0]} exited {done.returncode}")
    return done.stdout + done.stderr
