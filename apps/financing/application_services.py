"""Applications, decisions, offers and pledges: from selected orders (or a term loan) to an accepted offer."""

import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from apps.core.money import CENT, MAX_AMOUNT, to_decimal
from apps.core.transitions import transition_apply
from apps.groups.selectors import group_exposure_get, live_group_get
from apps.ledger.selectors import apr_ceiling_get, capital_position_get
from apps.merchants.models import Merchant

from .colending import share_offer_create
from .decision_rules import DecisionFacts, decision_run
from .models import (
    ApplicationOrder,
    ApplicationState,
    DecisionResult,
    FinancingApplication,
    Offer,
    PartnerShareOffer,
    Pledge,
    RuleOutcome,
    ShareOfferState,
)
from .pricing import offer_terms_price
from .products import presale_product_get, product_limits_check, term_product_get
from .selectors import advance_on, borrowing_base_get, financing_policy_in_force

DECISION_ACTOR = "system:decision-rules"


class OfferExpired(DomainError):
    code = "OFFER_EXPIRED"
    status = 409
    title = "The offer has expired"


def _amount(raw) -> Decimal:
    try:
        amount = to_decimal(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"{raw!r} is not an amount.", code="AMOUNT_INVALID") from exc
    # Size first: quantising an absurdly large number would overflow the decimal context.
    if amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(CENT):
        raise ValidationFailed(f"The amount must be positive, in cents and at most {MAX_AMOUNT}; got {amount}.",
                               code="AMOUNT_INVALID")
    return amount


@transaction.atomic
def application_submit(*, merchant: Merchant, order_ids: list, amount, actor, as_of: datetime.date | None = None):
    """Apply for `amount` against the merchant's selected orders, then decide automatically."""
    as_of = as_of or business_date_today()
    amount = _amount(amount)
    merchant = Merchant.objects.select_for_update().select_related("lender").get(pk=merchant.pk)  # one at a time
    base = borrowing_base_get(merchant=merchant, as_of=as_of)
    rows = {r.order.pk: r for r in base.orders}
    try:
        wanted = {int(i) for i in order_ids}
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("Order ids must be whole numbers.", code="ORDER_IDS_INVALID") from exc
    if not wanted:
        raise ValidationFailed("Select at least one order to borrow against.", code="ORDERS_REQUIRED")
    unknown = sorted(wanted - rows.keys())
    if unknown:
        raise NotFound(f"No open order of yours has id {', '.join(map(str, unknown))}.", code="ORDER_NOT_FOUND")
    blocked = [f"{rows[i].order.external_id}: {rows[i].reason}" for i in sorted(wanted) if not rows[i].selectable]
    if blocked:
        raise ValidationFailed("Some selected orders cannot be financed: " + " ".join(blocked), code="ORDER_NOT_ELIGIBLE")
    supported = advance_on(sum(rows[i].counted for i in wanted), base.advance_rate, base.refund_rate)
    if amount > supported:
        raise ValidationFailed(
            f"The selected orders support at most {supported:,.2f}; you asked for {amount:,.2f}.",
            code="BORROWING_BASE_EXCEEDED",
        )
    product = presale_product_get(lender=merchant.lender, as_of=as_of)
    product_limits_check(product=product, amount=amount)
    application = FinancingApplication.objects.create(merchant=merchant, amount=amount, product=product,
                                                      currency=merchant.lender.base_currency)
    ApplicationOrder.objects.bulk_create([ApplicationOrder(application=application, order_id=i) for i in sorted(wanted)])
    transition_apply(instance=application, transition="submit", actor=actor, update_fields=("submitted_at",))
    _decide(application=application, merchant=merchant, base=base, as_of=as_of)
    return application


@transaction.atomic
def term_loan_apply(*, merchant: Merchant, product, amount, term_months, actor, as_of: datetime.date | None = None):
    """Apply for a term loan under `product` (a LoanProduct of the merchant's lender, its id or code), then decide.

    No orders are pledged and the borrowing base does not apply; the product's amount and term
    limits do, and the decision rules (KYC, grade, credit limit, single borrower, capacity, APR) as for any loan.
    """
    as_of = as_of or business_date_today()
    amount = _amount(amount)
    merchant = Merchant.objects.select_for_update().select_related("lender").get(pk=merchant.pk)  # one at a time
    product = term_product_get(lender=merchant.lender, product=product, as_of=as_of)
    product_limits_check(product=product, amount=amount, term_months=term_months)
    base = borrowing_base_get(merchant=merchant, as_of=as_of)  # its grade and what is owed; not its orders
    if base.blocked_reason:
        raise ValidationFailed(base.blocked_reason, code="MERCHANT_NOT_ELIGIBLE")
    application = FinancingApplication.objects.create(merchant=merchant, amount=amount, product=product,
                                                      term_months=term_months, currency=merchant.lender.base_currency)
    transition_apply(instance=application, transition="submit", actor=actor, update_fields=("submitted_at",))
    _decide(application=application, merchant=merchant, base=base, as_of=as_of)
    return application


def _decide(*, application, merchant, base, as_of):
    policy = financing_policy_in_force(lender=merchant.lender, as_of=as_of)
    position = capital_position_get(lender=merchant.lender, on=as_of)
    terms = offer_terms_compute(application=application, as_of=as_of)  # priced once: the APR rule and the offer
    ceiling = apr_ceiling_get(lender=merchant.lender, on=as_of)
    group = live_group_get(merchant=merchant)
    facts = DecisionFacts(
        kyc_state=merchant.kyc_state, kyc_label=merchant.get_kyc_state_display(), grade=base.grade,
        credit_limit=merchant.credit_limit, owed=base.owed, amount=application.amount,
        borrowing_base=None if application.product.is_term_loan else base.base,
        exposure=group_exposure_get(merchant), single_borrower_limit=position.single_borrower_limit,
        cash=position.cash, lender_in_breach=position.in_breach,
        apr=terms["apr"], apr_ceiling=ceiling,
        limit_frozen_at=merchant.limit_frozen_at, limit_frozen_reason=merchant.limit_frozen_reason,
        exposure_group=group.name if group else "",
    )
    overall, verdicts = decision_run(facts=facts, policy=policy)
    DecisionResult.objects.bulk_create(
        [DecisionResult(application=application, rule=v.rule, outcome=v.outcome, reason=v.reason) for v in verdicts]
    )
    if overall == RuleOutcome.PASS:
        summary = "All decision rules passed."
    else:
        summary = " ".join(v.reason for v in verdicts if v.outcome == overall)
    transition = {RuleOutcome.PASS: "approve_automatically", RuleOutcome.REFER: "refer",
                  RuleOutcome.DECLINE: "reject_automatically"}[overall]
    transition_apply(instance=application, transition=transition, actor=DECISION_ACTOR, reason=summary,
                     update_fields=("decided_at", "decision_note"), method_kwargs={"note": summary})
    if overall == RuleOutcome.PASS:
        offer_create(application=application, as_of=as_of, terms=terms, ceiling=ceiling)


@transaction.atomic
def application_review(*, application: FinancingApplication, actor, approve: bool, note: str,
                       as_of: datetime.date | None = None):
    """A credit officer decides a referred application; an approval is priced at once."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("A note is required to decide a referred application.", code="REASON_REQUIRED")
    transition_apply(instance=application, transition="approve" if approve else "reject", actor=actor, reason=note,
                     update_fields=("decided_at", "decision_note"), method_kwargs={"note": note})
    if approve:
        offer_create(application=application, as_of=as_of or business_date_today())
    return application


def offer_terms_compute(*, application: FinancingApplication, as_of: datetime.date) -> dict:
    """Price the application by its product (apps/financing/pricing.py); the offer is valid for the policy's hours."""
    policy = financing_policy_in_force(lender=application.merchant.lender, as_of=as_of)
    terms = offer_terms_price(application=application, policy=policy, as_of=as_of)
    return {**terms, "expires_at": timezone.now() + datetime.timedelta(hours=policy.offer_valid_hours)}


def offer_create(*, application: FinancingApplication, as_of: datetime.date, terms: dict | None = None,
                 ceiling=None) -> Offer:
    """Record the offer; `terms` and `ceiling` may be passed in when the decision already computed them."""
    terms = terms or offer_terms_compute(application=application, as_of=as_of)
    ceiling = ceiling if ceiling is not None else apr_ceiling_get(lender=application.merchant.lender, on=as_of)
    if ceiling is None or terms["apr"] * 100 > ceiling:  # the rules checked this; the database row must never exist
        raise DomainError(f"An APR of {terms['apr']:.2%} cannot be offered (ceiling {ceiling}%).", code="APR_ABOVE_CEILING")
    return Offer.objects.create(application=application, **terms)


@transaction.atomic
def offer_accept(*, application: FinancingApplication, actor) -> FinancingApplication:
    """Accept an approved, unexpired offer and pledge its orders (each order backs one live pledge)."""
    application = FinancingApplication.objects.select_for_update(of=("self",)).select_related("offer").get(pk=application.pk)
    if application.state == ApplicationState.APPROVED and application.offer.expires_at <= timezone.now():
        # Refused here; the periodic offers_expire task moves it to expired (and audits it).
        raise OfferExpired(f"The offer expired at {timezone.localtime(application.offer.expires_at):%Y-%m-%d %H:%M}.")
    transition_apply(instance=application, transition="accept_offer", actor=actor)
    try:
        with transaction.atomic():
            Pledge.objects.bulk_create([Pledge(order=o, application=application) for o in application.orders.all()])
    except IntegrityError as exc:
        raise Conflict("An order of this offer is already pledged to another loan.", code="ORDER_ALREADY_PLEDGED") from exc
    Offer.objects.filter(pk=application.offer.pk).update(accepted_at=timezone.now())
    share_offer_create(application=application, as_of=business_date_today())
    return application


def offers_expire(*, now=None) -> int:
    """Expire every approved application whose offer has lapsed; returns how many."""
    now = now or timezone.now()
    lapsed = FinancingApplication.objects.filter(state=ApplicationState.APPROVED, offer__expires_at__lte=now)
    count = 0
    for application in lapsed.iterator():  # few per run; each transition is audited
        transition_apply(instance=application, transition="expire", actor="system:offer-expiry",
                         reason="The offer was not accepted in time.")
        count += 1
    return count


def application_withdraw(*, application: FinancingApplication, actor) -> None:
    transition_apply(instance=application, transition="withdraw", actor=actor, reason="Withdrawn by the merchant.")


@transaction.atomic
def accepted_offer_withdraw(*, application: FinancingApplication, actor, reason: str) -> FinancingApplication:
    """A credit officer withdraws an accepted offer that will not be disbursed: its orders are freed, and the partner
    bank's share, answered or not, is withdrawn too (it stops counting against the agreement's limit)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the accepted offer is withdrawn.", code="REASON_REQUIRED")
    # The application's lock first, as a disbursement takes it: one of the two finds the other done.
    application = FinancingApplication.objects.select_for_update(of=("self",)).get(pk=application.pk)
    transition_apply(instance=application, transition="withdraw_accepted", actor=actor, reason=reason,
                     update_fields=("decision_note",), method_kwargs={"note": f"Withdrawn by the lender: {reason}"})
    pledges_release(application=application, actor=actor, reason=reason)
    share = PartnerShareOffer.objects.select_for_update().filter(
        application=application, state__in=(ShareOfferState.OFFERED, ShareOfferState.ACCEPTED)).first()
    if share is not None:
        share.state = ShareOfferState.WITHDRAWN
        share.save(update_fields=["state"])
        audit_record(actor=actor, action="share_withdrawn", subject=application, reason=reason,
                     data={"bank": share.partner_bank.code, "amount": str(share.amount)})
    return application


@transaction.atomic
def pledges_release(*, application: FinancingApplication, actor, reason: str) -> int:
    """Free the orders backing an application (its loan repaid, or the offer withdrawn); returns how many."""
    released = Pledge.objects.filter(application=application, released_at__isnull=True).update(released_at=timezone.now())
    if released:
        audit_record(actor=actor, action="pledges_released", subject=application, reason=reason,
                     data={"orders": released})
    return released
