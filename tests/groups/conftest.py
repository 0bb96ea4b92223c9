"""Guarantee-group fixtures: verified, graded merchants with users; groups built through the services; loans."""

import datetime
from decimal import Decimal

import pytest

from apps.collections.models import DEFAULT_LADDER, DunningStep
from apps.eod.chunks import Chunk
from apps.financing.application_services import application_submit, offer_accept
from apps.financing.disbursement import loan_disburse
from apps.groups.models import GroupMembership
from apps.groups.services import group_create, invitation_accept, member_invite
from apps.merchants.models import DailySales, KycState, Merchant
from apps.repayments.models import Loan, LoanState
from tests.accounts.factories import MerchantUserFactory
from tests.conftest import PASSWORD, TODAY

D = Decimal


def chunk_on(day: datetime.date) -> Chunk:
    return Chunk(run_id=0, business_date=day, lo=0, hi=10**12)


@pytest.fixture
def shop(lender, graded):
    """shop(name) → a KYC-verified, grade-A merchant user of the lender (username = name, password PASSWORD)."""

    def make(name: str, *, grade: str = "A"):
        user = MerchantUserFactory(lender=lender, username=name, password=PASSWORD,
                                   merchant__company_name=f"{name.title()} Ltd", merchant__store_handle=name)
        Merchant.objects.filter(pk=user.merchant_id).update(kyc_state=KycState.VERIFIED)
        graded(user.merchant, grade)
        user.merchant.refresh_from_db()
        return user

    return make


@pytest.fixture
def group_of(shop):
    """group_of(n, name=…) → (group, [users]) with n accepted members, founded by the first."""

    def make(n: int, *, name: str = "Harbour Circle", prefix: str = "m"):
        users = [shop(f"{prefix}{i}") for i in range(n)]
        group = group_create(merchant=users[0].merchant, name=name, actor=users[0])
        for user in users[1:]:
            membership = member_invite(group=group, inviter=users[0].merchant, store_handle=user.merchant.store_handle,
                                       actor=users[0])
            invitation_accept(membership=GroupMembership.objects.get(pk=membership.pk), actor=user)
        group.refresh_from_db()
        return group, users

    return make


@pytest.fixture
def loan_for(open_orders):
    """loan_for(merchant, amount) → a disbursed advance (two of eight eligible orders of 1,000.00 pledged)."""

    def make(merchant, amount="1500.00"):
        orders = open_orders(merchant, 8)[:2]
        application = application_submit(merchant=merchant, order_ids=[o.pk for o in orders], amount=amount,
                                         actor="m", as_of=TODAY)
        assert application.state == "approved", application.decision_note
        offer_accept(application=application, actor="m")
        return loan_disburse(application=application, actor="treasurer")

    return make


def overdue(loan: Loan, *, dpd: int, state: str = LoanState.OVERDUE) -> datetime.date:
    """Make the loan `dpd` days past its (single) due date as the delinquency step would; returns that business date."""
    due = loan.installments.get().due_date
    day = due + datetime.timedelta(days=dpd)
    Loan.objects.filter(pk=loan.pk).update(state=state, overdue_since=due + datetime.timedelta(days=1),
                                           defaulted_on=day if state == LoanState.DEFAULTED else None)
    return day


def overdue_amount(loan: Loan) -> Decimal:
    i = loan.installments.get()
    return i.principal_due + i.interest_due + i.fee_due


@pytest.fixture
def guarantor_step(lender):
    code, offset, audience, channels, action, title, body = next(row for row in DEFAULT_LADDER if row[0] == "guarantors")
    return DunningStep.objects.create(lender=lender, code=code, offset_days=offset, audience=audience, channels=channels,
                                      action=action, title=title, body=body)


def sales_history(merchant, *, through: datetime.date, days: int = 120, daily: str = "40000.00") -> None:
    """Steady daily sales ending on `through`: enough for grade A with the default scoring policy."""
    DailySales.objects.bulk_create([
        DailySales(merchant=merchant, date=through - datetime.timedelta(days=n), gross_sales=D(daily), order_count=10,
                   refunds=D("0"), chargebacks=D("0"), source="api")
        for n in range(days)])
