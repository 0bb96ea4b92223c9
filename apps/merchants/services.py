"""Every state change for merchants: sign-up, KYC documents and lifecycle, sales, credit."""

import datetime
import uuid

from django.db import transaction

from apps.accounts.models import Role, User
from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, Forbidden, ValidationFailed
from apps.core.transitions import transition_apply

from .models import CreditAssessment, DailySales, KycDocument, Merchant, ScoringPolicy
from .sales_rows import SalesRow
from .scoring import DEFAULT_PARAMETERS, score_compute
from .selectors import score_inputs_get, scoring_policy_in_force
from .uploads import upload_check


@transaction.atomic
def merchant_signup(
    *, lender, company_name: str, store_handle: str, contact_name: str, contact_email: str,
    contact_phone: str, bank_name: str, bank_account_name: str, bank_account_number: str,
    username: str, password: str,
) -> User:
    """Create a merchant in KYC draft with its first user; returns the user."""
    if Merchant.objects.filter(lender=lender, store_handle=store_handle).exists():
        raise Conflict(f"The store {store_handle} is already registered.", code="STORE_ALREADY_REGISTERED")
    if User.objects.filter(username=username).exists():
        raise Conflict(f"The username {username} is taken.", code="USERNAME_TAKEN")
    merchant = Merchant.objects.create(
        lender=lender, company_name=company_name, store_handle=store_handle, contact_name=contact_name,
        contact_email=contact_email, contact_phone=contact_phone, bank_name=bank_name,
        bank_account_name=bank_account_name, bank_account_number=bank_account_number,
    )
    user = User.objects.create_user(
        username=username, email=contact_email, password=password, role=Role.MERCHANT,
        lender=lender, merchant=merchant,
    )
    audit_record(actor=user, action="signed_up", subject=merchant, to_state=merchant.kyc_state)
    return user


@transaction.atomic
def kyc_document_upload(*, merchant: Merchant, kind: str, upload, actor: User) -> KycDocument:
    checked = upload_check(upload)
    if merchant.kyc_state not in ("draft", "rejected"):
        raise Conflict(
            f"Documents can be added while KYC is draft or rejected; it is {merchant.kyc_state}.",
            code="KYC_LOCKED",
        )
    original = upload.name
    upload.name = f"{uuid.uuid4().hex}{checked.extension}"  # never trust a client's file name on disk
    document = KycDocument.objects.create(
        merchant=merchant, kind=kind, file=upload, original_name=original[:255],
        content_type=checked.content_type, size=checked.size, uploaded_by=actor,
    )
    audit_record(actor=actor, action="kyc_document_uploaded", subject=merchant,
                 data={"document_id": document.pk, "kind": kind, "name": original[:255]})
    return document


def kyc_submit(*, merchant: Merchant, actor: User) -> Merchant:
    if not merchant.kyc_documents.exists():
        raise ValidationFailed("Upload at least one KYC document before submitting.", code="KYC_DOCUMENTS_MISSING")
    return transition_apply(instance=merchant, transition="kyc_submit", actor=actor, state_field="kyc_state",
                            update_fields=("kyc_submitted_at", "kyc_decision_reason"))


def _kyc_decide(*, merchant: Merchant, actor: User, transition: str, reason: str, reason_required: bool) -> Merchant:
    reason = (reason or "").strip()
    if reason_required and not reason:
        raise ValidationFailed(
            f"A reason is required to {transition.removeprefix('kyc_')} a merchant's KYC.", code="REASON_REQUIRED"
        )
    return transition_apply(
        instance=merchant, transition=transition, actor=actor, state_field="kyc_state",
        update_fields=("kyc_decision_reason",), reason=reason, method_kwargs={"reason": reason},
    )


def kyc_verify(*, merchant: Merchant, actor: User, reason: str = "") -> Merchant:
    return _kyc_decide(merchant=merchant, actor=actor, transition="kyc_verify", reason=reason, reason_required=False)


def kyc_reject(*, merchant: Merchant, actor: User, reason: str) -> Merchant:
    return _kyc_decide(merchant=merchant, actor=actor, transition="kyc_reject", reason=reason, reason_required=True)


def merchant_suspend(*, merchant: Merchant, actor: User, reason: str) -> Merchant:
    return _kyc_decide(merchant=merchant, actor=actor, transition="kyc_suspend", reason=reason, reason_required=True)


def merchant_reinstate(*, merchant: Merchant, actor: User, reason: str) -> Merchant:
    return _kyc_decide(merchant=merchant, actor=actor, transition="kyc_reinstate", reason=reason, reason_required=True)


@transaction.atomic
def daily_sales_import(*, merchant: Merchant, rows: list[SalesRow], source: str, actor) -> CreditAssessment:
    """Upsert validated rows (a re-sent day replaces the old figures), then re-score."""
    DailySales.objects.bulk_create(
        [
            DailySales(merchant=merchant, date=r.date, gross_sales=r.gross_sales, order_count=r.order_count,
                       refunds=r.refunds, chargebacks=r.chargebacks, source=source, currency=merchant.lender.base_currency)
            for r in rows
        ],
        update_conflicts=True,
        unique_fields=["merchant", "date"],
        update_fields=["gross_sales", "order_count", "refunds", "chargebacks", "source", "imported_at"],
    )
    audit_record(actor=actor, action="sales_imported", subject=merchant,
                 data={"rows": len(rows), "source": source, "from": str(min(r.date for r in rows)),
                       "to": str(max(r.date for r in rows))})
    return credit_profile_recompute(merchant=merchant, actor=actor)


@transaction.atomic
def credit_profile_recompute(*, merchant: Merchant, actor, as_of: datetime.date | None = None) -> CreditAssessment:
    as_of = as_of or business_date_today()
    policy = scoring_policy_in_force(lender=merchant.lender, as_of=as_of) or scoring_policy_default_ensure(lender=merchant.lender)
    parameters = policy.parameters
    inputs = score_inputs_get(merchant=merchant, as_of=as_of, window_days=parameters["window_days"])
    from apps.groups.selectors import contagion_downgrade_get  # groups builds on merchants; imported late

    notches, why = contagion_downgrade_get(merchant=merchant, parameters=parameters)
    result = score_compute(inputs=inputs, parameters=parameters, downgrade_notches=notches, downgrade_reason=why)
    assessment = CreditAssessment.objects.create(
        merchant=merchant, policy=policy, as_of=as_of, score=result.score, grade=result.grade,
        credit_limit=result.credit_limit, reasons=result.reasons,
        inputs={k: str(v) for k, v in inputs.__dict__.items()},
    )
    previous = (merchant.risk_grade, merchant.credit_limit)
    Merchant.objects.filter(pk=merchant.pk).update(risk_grade=result.grade, credit_limit=result.credit_limit)
    merchant.risk_grade, merchant.credit_limit = result.grade, result.credit_limit
    if previous != (result.grade, result.credit_limit):
        audit_record(actor=actor, action="credit_regraded", subject=merchant, from_state=previous[0] or "",
                     to_state=result.grade, data={"score": result.score, "credit_limit": str(result.credit_limit)})
    return assessment


@transaction.atomic
def merchant_limit_unfreeze(*, merchant: Merchant, actor: User, reason: str) -> Merchant:
    """A lender admin lifts a frozen credit limit (contagion from a guarantee group); audited, reason required."""
    reason = (reason or "").strip()
    if not actor.has_role(Role.LENDER_ADMIN):
        raise Forbidden("Only a lender admin may lift a frozen credit limit.")
    if not reason:
        raise ValidationFailed("A reason is required to lift a frozen credit limit.", code="REASON_REQUIRED")
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if merchant.limit_frozen_at is None:
        raise Conflict(f"The credit limit of {merchant.company_name} is not frozen.", code="LIMIT_NOT_FROZEN")
    previous = merchant.limit_frozen_reason
    Merchant.objects.filter(pk=merchant.pk).update(limit_frozen_at=None, limit_frozen_reason="")
    merchant.limit_frozen_at, merchant.limit_frozen_reason = None, ""
    audit_record(actor=actor, action="limit_unfrozen", subject=merchant, from_state="frozen", reason=reason,
                 data={"frozen_because": previous})
    return merchant


def scoring_policy_default_ensure(*, lender):
    policy, _ = ScoringPolicy.objects.get_or_create(
        lender=lender, version=1,
        defaults={"effective_from": datetime.date(2000, 1, 1), "parameters": DEFAULT_PARAMETERS},
    )
    return policy
