"""Disbursing an accepted, fully funded offer: the ledger, the loan and its schedule, atomically.

Locks follow the global order (lender position → merchant → application/loan), so a
disbursement racing another for the same cash, single-borrower headroom or orders queues
instead of interleaving. The ledger's loan funding refuses when cash is short or the
merchant would pass the single-borrower limit; the whole disbursement then rolls back.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import DomainError, InvalidTransition
from apps.core.transitions import transition_apply
from apps.groups.services import guarantors_attach
from apps.ledger.locks import lender_position_lock
from apps.ledger.models import Acct, EntryKind
from apps.ledger.posting import cr, dr, post_locked
from apps.ledger.selectors import apr_ceiling_get
from apps.ledger.services import loan_funding_post
from apps.merchants.models import Merchant
from apps.repayments.models import Loan, LoanInstallment

from .colending import funding_split
from .models import ApplicationState, FinancingApplication
from .pricing import offer_terms_from


@transaction.atomic
def loan_disburse(*, application: FinancingApplication, actor) -> Loan:
    merchant = application.merchant
    lender = merchant.lender
    lender_position_lock(lender)
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    application = (FinancingApplication.objects.select_for_update(of=("self",))
                   .select_related("offer", "product", "merchant__lender").get(pk=application.pk))
    if application.state != ApplicationState.OFFER_ACCEPTED:
        raise InvalidTransition(f"Only an accepted offer can be disbursed; this application is "
                                f"{application.get_state_display().lower()}.")
    offer = application.offer
    terms = _terms_today(application=application, offer=offer)
    lender_part, partner_part, share = funding_split(application=application)
    reference = f"disbursement:{application.pk}"
    loan_funding_post(lender=lender, merchant=merchant, amount=lender_part, reference=f"{reference}:lender",
                      actor=actor, business_date=terms["start_date"])
    if partner_part:
        # The bank pays its share to the merchant; the lender owes it back as collected.
        post_locked(lender=lender, reference=f"{reference}:partner", kind=EntryKind.LOAN_FUNDING, actor=actor,
                    business_date=terms["start_date"], description=f"{share.partner_bank.name}'s share of loan to {merchant}",
                    lines=[dr(Acct.LOANS_PRINCIPAL, partner_part), cr(Acct.DUE_TO_PARTNER_BANKS, partner_part)])
    product = application.product
    # The contract: the offer's price and dates (from today, if it waited), the product's shape, penalty and allocation
    # order, copied so that editing the product later never changes this loan.
    loan = Loan.objects.create(
        merchant=merchant, application=application, currency=application.currency, principal=offer.principal,
        lender_principal=lender_part, partner_principal=partner_part, partner_bank=share.partner_bank if share else None,
        partner_annual_rate=share.agreement.annual_rate if share else 0,
        annual_rate=terms["annual_rate"], day_count=terms["day_count"], apr=terms["apr"], start_date=terms["start_date"],
        maturity_date=terms["maturity_date"], product=product.kind, repayment_method=product.method,
        allocation_strategy=product.allocation_strategy, penalty_annual_rate=product.penalty_annual_rate,
    )
    LoanInstallment.objects.bulk_create([
        LoanInstallment(loan=loan, number=n, due_date=i["due_date"], principal_due=i["principal"],
                        interest_due=i["interest"], fee_due=i["fee"])
        for n, i in enumerate(terms["schedule"], start=1)
    ])
    if terms["start_date"] != offer.start_date:
        audit_record(actor=actor, action="terms_dated_from_disbursement", subject=loan,
                     reason=f"Offered for {offer.start_date.isoformat()}, disbursed on {terms['start_date'].isoformat()}: "
                            "the loan runs from the day the money went out.",
                     data={"offered_start": str(offer.start_date), "offered_maturity": str(offer.maturity_date),
                           "offered_interest": str(offer.interest), "interest": str(terms["interest"]),
                           "apr": str(terms["apr"])})
    transition_apply(instance=loan, transition="activate", actor=actor, update_fields=("disbursed_at",))
    guarantors_attach(loan=loan, actor=actor)  # the other members of the borrower's active guarantee group
    transition_apply(instance=application, transition="mark_disbursed", actor=actor)
    transaction.on_commit(lambda: _notify_merchant(loan_id=loan.pk))
    return loan


def _terms_today(*, application: FinancingApplication, offer) -> dict:
    """The offer's terms from today (pricing.offer_terms_from), refused if that would put its APR above the ceiling."""
    today = business_date_today()
    terms = offer_terms_from(application=application, offer=offer, on=today)
    if terms["start_date"] != offer.start_date:
        ceiling = apr_ceiling_get(lender=application.merchant.lender, on=today)
        if ceiling is None or terms["apr"] * 100 > ceiling:
            raise DomainError(f"This offer was priced for {offer.start_date.isoformat()}; running from today its APR would "
                              f"be {terms['apr']:.2%}, above the ceiling of {ceiling}%: it cannot be disbursed.",
                              code="APR_ABOVE_CEILING")
    return terms


def _notify_merchant(*, loan_id: int) -> None:
    loan = Loan.objects.select_related("merchant").get(pk=loan_id)
    send_mail(
        subject=f"OrderFin: {loan.principal:,.2f} {loan.currency} is on its way",
        message=(f"Your loan of {loan.principal:,.2f} {loan.currency} has been disbursed in full to "
                 f"{loan.merchant.bank_name} {loan.merchant.bank_account_number}. "
                 + (f"It is due on {loan.maturity_date}." if loan.repayment_method == "bullet"
                    else f"It is repaid monthly until {loan.maturity_date}.")),
        from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[loan.merchant.contact_email], fail_silently=True,
    )


def disbursement_attempt(*, application: FinancingApplication, actor) -> tuple[Loan | None, str]:
    """Disburse now if the offer is fully funded; otherwise say why it waits (it can be retried)."""
    try:
        return loan_disburse(application=application, actor=actor), ""
    except DomainError as exc:
        return None, exc.message
