"""Compare every loan sub-ledger total with its GL control account; exit 1 on any difference."""

import datetime
import json
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Lender
from apps.core.calendar import business_date_today
from apps.repayments.selectors import reconciliation_get


class Command(BaseCommand):
    help = "Reconcile loan sub-ledgers to the general ledger (per lender); non-zero exit when anything differs."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=datetime.date.fromisoformat, default=None,
                            help="Today's business date, YYYY-MM-DD (the default): the sub-ledger holds current balances, "
                                 "so no other date can be checked")
        parser.add_argument("--lender", help="Lender slug (default: every lender)")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, date=None, lender=None, as_json=False, **options):
        today = business_date_today()
        if date not in (None, today):
            raise CommandError(f"The sub-ledger holds current balances only, so it reconciles as of today ({today}), "
                               f"not {date}.")
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
            self.stdout.write(json.dumps({"date": today.isoformat(), "differences": broken, "rows": report}))
        else:
            for r in report:
                flag = "  <-- DIFFERENCE" if Decimal(r["difference"]) else ""
                self.stdout.write(f"{r['lender']:<16} {r['control']:<32} sub-ledger {r['subledger']:>16} "
                                  f"GL {r['ledger']:>16}{flag}")
        if broken:
            raise CommandError(f"{broken} control account(s) do not reconcile.")

