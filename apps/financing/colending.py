"""Co-lending: offering a partner bank its share of an accepted offer, and its answer.

When an agreement in force covers the merchant's grade and the bank's exposure limit
has room, the bank is offered `share` of the principal (the lender keeps the rest:
agreements cap a bank at 70%). Under `auto_accept` the share is accepted at once;
otherwise the bank answers through the API. A declined share reverts to the lender.
A loan is disbursed only when no share offer is still waiting.
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.errors import Conflict
from apps.core.money import quantize
from apps.ledger.selectors import rules_in_force_get
from apps.partners.models import CoLendingAgreement

from .models import FinancingApplication, PartnerShareOffer, ShareOfferState


def agreement_in_force_for(*, application: FinancingApplication, as_of):
    grade = application.merchant.risk_grade or "E"
    return (CoLendingAgreement.objects.select_related("partner_bank")
            .filter(lender=application.merchant.lender, partner_bank__is_active=True, effective_from__lte=as_of,
                    eligible_grades__contains=grade)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=as_of))
            .order_by("-effective_from", "id").first())


def _committed_exposure(agreement) -> Decimal:
    live = (ShareOfferState.OFFERED, ShareOfferState.ACCEPTED)
    total = PartnerShareOffer.objects.filter(agreement=agreement, state__in=live).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0")


def share_offer_create(*, application: FinancingApplication, as_of) -> PartnerShareOffer | None:
    """Offer the bank its share if an agreement covers this loan and has room; None otherwise."""
    agreement = agreement_in_force_for(application=application, as_of=as_of)
    if agreement is None:
        return None
    # One agreement's limit at a time: concurrent offers cannot both use the same headroom.
    CoLendingAgreement.objects.select_for_update().get(pk=agreement.pk)
    # The rule set's minimum own share (30% by default) caps the bank's part, whatever the agreement says.
    own_min = rules_in_force_get(lender=application.merchant.lender, on=as_of).min_own_share_colending
    amount = quantize(application.offer.principal * min(agreement.share, 1 - own_min))
    if amount <= 0 or _committed_exposure(agreement) + amount > agreement.exposure_limit:
        return None
    offer = PartnerShareOffer.objects.create(application=application, agreement=agreement, amount=amount,
                                             partner_bank=agreement.partner_bank,
                                             share=quantize(amount / application.offer.principal, Decimal("0.0001")))
    if agreement.auto_accept:
        _answer(offer=offer, accept=True, actor="system:auto-accept")
    return offer


@transaction.atomic
def share_offer_answer(*, offer_id: int, partner_bank, accept: bool, actor: str) -> PartnerShareOffer:
    """The bank accepts or declines its share; only offers made to this bank exist for it."""
    offer = PartnerShareOffer.objects.select_for_update().get(pk=offer_id, partner_bank=partner_bank)
    if offer.state == ShareOfferState.WITHDRAWN:  # not an answer the bank gave: it must not go looking for one
        raise Conflict("This share was withdrawn: the lender will not make the loan.", code="SHARE_WITHDRAWN")
    if offer.state != ShareOfferState.OFFERED:
        raise Conflict(f"This share was already {offer.get_state_display().lower()}.", code="SHARE_ALREADY_ANSWERED")
    return _answer(offer=offer, accept=accept, actor=actor)


def _answer(*, offer: PartnerShareOffer, accept: bool, actor: str) -> PartnerShareOffer:
    offer.state = ShareOfferState.ACCEPTED if accept else ShareOfferState.DECLINED
    offer.responded_at, offer.responded_by = timezone.now(), actor
    offer.save(update_fields=["state", "responded_at", "responded_by"])
    audit_record(actor=actor, action=f"share_{offer.state}", subject=offer.application,
                 data={"bank": offer.partner_bank.code, "amount": str(offer.amount)})
    return offer


def funding_split(*, application: FinancingApplication) -> tuple[Decimal, Decimal, PartnerShareOffer | None]:
    """(lender's part, partner's part, accepted share offer) of a fully answered application."""
    offer = getattr(application, "share_offer", None)
    if offer is not None and offer.state == ShareOfferState.OFFERED:
        raise Conflict(f"{offer.partner_bank.name} has not answered its share yet.", code="NOT_FULLY_FUNDED")
    partner = offer.amount if offer is not None and offer.state == ShareOfferState.ACCEPTED else Decimal("0.00")
    principal = application.offer.principal
    return principal - partner, partner, offer if partner else None
