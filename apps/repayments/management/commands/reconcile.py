"""Compare every loan sub-ledger total with its GL control account; exit 1 on any difference."""

import json
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Lender
from apps.repayments.selectors import reconciliation_get


class Command(BaseCommand):
    help = "Reconcile loan sub-ledgers to the general ledger (per lender); non-zero exit when anything differs."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Business date of the check (recorded in the output; balances are current)")
        parser.add_argument("--lender", help="Lender slug (default: every lender)")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, date=None, lender=None, as_json=False, **options):
        lenders = Lender.objects.filter(slug=lender) if lender else Lender.objects.all()
        if lender and not lenders:
            raise CommandError(f"No lender {lender!r}.")
        report, broken = [], 0
        for each in lenders:
            for row in reconciliation_get(lender=each):
                broken += bool(row.difference)
                report.append({"lender": each.slug, "control": row.control, "subledger": str(row.subledger),
                               "ledger": str(row.ledger), "difference": str(row.difference)})
        if as_json:
            self.stdout.write(json.dumps({"date": date, "differences": broken, "rows": report}))
        else:
            for r in report:
                flag = "  <-- DIFFERENCE" if Decimal(r["difference"]) else ""
                self.stdout.write(f"{r['lender']:<16} {r['control']:<32} sub-ledger {r['subledger']:>16} "
                                  f"GL {r['ledger']:>16}{flag}")
        if broken:
            raise CommandError(f"{broken} control account(s) do not reconcile.")

