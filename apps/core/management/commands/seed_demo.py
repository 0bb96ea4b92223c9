"""Demo data, loaded once: a lender with staff of every role and its loan products, merchants in
several KYC states with sales history, a partner bank and a marketplace API client."""

import datetime
import zlib
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Lender, Role, User
from apps.core.calendar import business_date_today
from apps.financing.order_rows import OrderRow
from apps.financing.products import loan_products_default_ensure
from apps.financing.services import financing_policy_default_ensure, orders_ingest
from apps.ledger.services import donation_record, drawdown_record, equity_inject, facility_open, ledger_setup_ensure
from apps.merchants.models import DailySales, KycDocument, Merchant
from apps.merchants.services import (
    credit_profile_recompute,
    kyc_reject,
    kyc_submit,
    kyc_verify,
    merchant_signup,
    merchant_suspend,
    scoring_policy_default_ensure,
)
from apps.partners.models import ApiClientKind, CoLendingAgreement, PartnerBank
from apps.partners.services import api_client_create

DEMO_PASSWORD = "orderfin-demo-2026"
STAFF = [
    ("admin", Role.LENDER_ADMIN), ("officer", Role.CREDIT_OFFICER),
    ("collector", Role.COLLECTOR), ("treasurer", Role.TREASURER),
]
# (username, company, store, final KYC state, daily sales base)
MERCHANTS = [
    ("acme", "Acme Toys Ltd", "acme-toys", "verified", Decimal("42000")),
    ("lotus", "Lotus Tea House", "lotus-tea", "submitted", Decimal("9000")),
    ("pine", "Pine Furniture Co", "pine-furniture", "rejected", Decimal("3000")),
    ("newbie", "Newbie Gadgets", "newbie-gadgets", "draft", None),
    ("shady", "Shady Deals Inc", "shady-deals", "suspended", Decimal("15000")),
]
API_CLIENTS = [
    ("bank-demo", "demo-bank-secret", ApiClientKind.PARTNER_BANK),
    ("marketplace-demo", "demo-marketplace-secret", ApiClientKind.MARKETPLACE),
]
MINIMAL_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Command(BaseCommand):
    help = "Load OrderFin demo data (idempotent: does nothing if the demo lender exists)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **options):
        if Lender.objects.filter(slug=settings.PORTAL_LENDER_SLUG).exists():
            self.stdout.write("Demo data already loaded.")
        else:
            self._seed()
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        if not options["quiet"]:
            self.stdout.write(logins_text())

    @transaction.atomic
    def _seed(self):
        lender = Lender.objects.create(slug=settings.PORTAL_LENDER_SLUG, name="OrderFin Small Loan Co., Ltd.",
                                       licence_number="SLC-2026-0001")
        scoring_policy_default_ensure(lender=lender)
        financing_policy_default_ensure(lender=lender)
        loan_products_default_ensure(lender=lender)  # a pre-sale advance and three term loans
        for username, role in STAFF:
            User.objects.create_user(username=username, password=DEMO_PASSWORD, role=role, lender=lender,
                                     email=f"{username}@orderfin.local")
        admin = User.objects.get(username="admin")
        officer = User.objects.get(username="officer")
        _books(lender, treasurer=User.objects.get(username="treasurer"))
        bank = PartnerBank.objects.create(lender=lender, name="Harbour Commercial Bank", code="harbour",
                                          exposure_limit=Decimal("50000000.00"))
        CoLendingAgreement.objects.create(lender=lender, partner_bank=bank, share=Decimal("0.5000"),
                                          annual_rate=Decimal("0.0450"), eligible_grades="AB",
                                          exposure_limit=Decimal("20000000.00"), auto_accept=True,
                                          effective_from=datetime.date(2026, 1, 1))
        for client_id, secret, kind in API_CLIENTS:
            api_client_create(lender=lender, name=client_id, kind=kind, actor=admin, client_id=client_id,
                              client_secret=secret, partner_bank=bank if kind == ApiClientKind.PARTNER_BANK else None)
        today = business_date_today()
        for username, company, store, state, base in MERCHANTS:
            user = merchant_signup(
                lender=lender, company_name=company, store_handle=store, contact_name=f"{company} owner",
                contact_email=f"{username}@merchant.local", contact_phone="+86 21 5555 0100",
                bank_name="Harbour Commercial Bank", bank_account_name=company,
                bank_account_number=f"6222{zlib.crc32(store.encode()):012d}", username=username, password=DEMO_PASSWORD,
            )
            merchant = user.merchant
            if base is not None:
                _sales_history(merchant, base, today)
                credit_profile_recompute(merchant=merchant, actor="seed")
                _presale_orders(merchant, base, today)
            if state == "draft":
                continue
            KycDocument.objects.create(merchant=merchant, kind="business_licence", original_name="licence.pdf",
                                       content_type="application/pdf", size=len(MINIMAL_PDF), uploaded_by=user,
                                       file=ContentFile(MINIMAL_PDF, name="licence.pdf"))
            kyc_submit(merchant=merchant, actor=user)
            if state == "rejected":
                kyc_reject(merchant=merchant, actor=officer, reason="Business licence photo is unreadable.")
            elif state in ("verified", "suspended"):
                kyc_verify(merchant=merchant, actor=officer)
            if state == "suspended":
                merchant_suspend(merchant=merchant, actor=admin, reason="Chargeback spike under investigation.")


def _books(lender: Lender, *, treasurer: User) -> None:
    """Capital, a donation and one bank facility partly drawn (the LPR history ships in a migration)."""
    ledger_setup_ensure(lender=lender)
    equity_inject(lender=lender, amount=Decimal("50000000.00"), reference="demo-equity", actor=treasurer)
    donation_record(lender=lender, amount=Decimal("1000000.00"), reference="demo-donation", actor=treasurer)
    facility = facility_open(lender=lender, bank_name="Harbour Commercial Bank", limit=Decimal("20000000.00"),
                             annual_rate=Decimal("3.6500"), actor=treasurer)
    drawdown_record(facility=facility, amount=Decimal("10000000.00"), reference="demo-drawdown-1", actor=treasurer)


def _sales_history(merchant: Merchant, base: Decimal, today: datetime.date) -> None:
    rows = []
    for days_ago in range(180, 0, -1):
        day = today - datetime.timedelta(days=days_ago)
        growth = Decimal(200 - days_ago) / 150  # a steadily growing shop
        weekday_swing = Decimal(1) + Decimal(day.weekday() % 3) / 10
        gross = (base * growth * weekday_swing).quantize(Decimal("0.01"))
        rows.append(DailySales(merchant=merchant, date=day, gross_sales=gross, order_count=int(gross / 150) + 1,
                               refunds=(gross * Decimal("0.02")).quantize(Decimal("0.01")), chargebacks=Decimal("0.00"),
                               source="csv"))
    DailySales.objects.bulk_create(rows)


def _presale_orders(merchant: Merchant, base: Decimal, today: datetime.date) -> None:
    """Two dozen open orders from a handful of buyers, settling over the next four months."""
    now = timezone.now()
    rows = [
        OrderRow(external_id=f"{merchant.store_handle}-{n:04d}", buyer_id=f"buyer-{n % 7}",
                 amount=(base / 4 * (1 + n % 5)).quantize(Decimal("0.01")),
                 paid_amount=(base / 4 * (1 + n % 5)).quantize(Decimal("0.01")), currency=merchant.lender.base_currency,
                 paid_at=now - datetime.timedelta(days=n), expected_ship_date=today + datetime.timedelta(days=n % 20),
                 expected_settlement_date=today + datetime.timedelta(days=10 + 5 * n))
        for n in range(24)
    ]
    orders_ingest(merchant=merchant, rows=rows, source="api", actor="seed")


def logins_text() -> str:
    lines = [f"Demo logins (password for every person: {DEMO_PASSWORD})",
             "  back-office  /backoffice/ : " + ", ".join(f"{u} ({r.label})" for u, r in STAFF),
             "  portal       /portal/     : " + ", ".join(f"{u} ({s})" for u, _, _, s, _ in MERCHANTS),
             "  API (OAuth2 client credentials at /o/token/): "
             + ", ".join(f"{cid} / {secret}" for cid, secret, _ in API_CLIENTS)]
    return "\n".join(lines)

