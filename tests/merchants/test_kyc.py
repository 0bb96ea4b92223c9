import pytest

from apps.accounts.models import Role
from apps.core.audit import audit_trail_for
from apps.core.errors import Forbidden, InvalidTransition, ValidationFailed
from apps.merchants.models import KycState, Merchant
from apps.merchants.services import (
    kyc_document_upload,
    kyc_reject,
    kyc_submit,
    kyc_verify,
    merchant_reinstate,
    merchant_signup,
    merchant_suspend,
)
from tests.helpers import JPEG_BYTES, PDF_BYTES, PNG_BYTES, upload


def _submitted(merchant, user):
    kyc_document_upload(merchant=merchant, kind="business_licence", upload=upload("licence.pdf", PDF_BYTES), actor=user)
    return kyc_submit(merchant=merchant, actor=user)


def test_sign_up_creates_a_draft_merchant_with_its_user(lender):
    user = merchant_signup(
        lender=lender, company_name="Acme", store_handle="acme", contact_name="Li", contact_email="li@acme.test",
        contact_phone="+86 1", bank_name="B", bank_account_name="Acme", bank_account_number="62220000111",
        username="li", password="a-long-password-1",
    )
    assert user.role == Role.MERCHANT and user.merchant.kyc_state == KycState.DRAFT
    assert [e.action for e in audit_trail_for(user.merchant)] == ["signed_up"]


def test_a_store_can_sign_up_only_once(lender, merchant):
    with pytest.raises(Exception, match="already registered"):
        merchant_signup(lender=lender, company_name="X", store_handle=merchant.store_handle, contact_name="x",
                        contact_email="x@x.test", contact_phone="1", bank_name="b", bank_account_name="x",
                        bank_account_number="1234567890", username="x", password="pw-1234567")


def test_submitting_without_documents_is_refused(merchant, merchant_user):
    with pytest.raises(ValidationFailed, match="at least one KYC document"):
        kyc_submit(merchant=merchant, actor=merchant_user)
    merchant.refresh_from_db()
    assert merchant.kyc_state == KycState.DRAFT


@pytest.mark.parametrize("name,content", [("a.pdf", PDF_BYTES), ("a.PNG", PNG_BYTES), ("a.jpeg", JPEG_BYTES)])
def test_pdf_png_and_jpeg_documents_are_accepted(merchant, merchant_user, name, content):
    document = kyc_document_upload(merchant=merchant, kind="legal_rep_id", upload=upload(name, content), actor=merchant_user)
    assert document.original_name == name and document.size == len(content)
    assert document.file.name.startswith(f"kyc/{merchant.pk}/") and document.file.name.rsplit("/", 1)[1] != name


@pytest.mark.parametrize("name,content,code", [
    ("virus.exe", b"MZ\x90\x00", "UPLOAD_TYPE_NOT_ALLOWED"),
    ("fake.pdf", b"<html>not a pdf</html>", "UPLOAD_TYPE_MISMATCH"),
    ("fake.png", PDF_BYTES, "UPLOAD_TYPE_MISMATCH"),
    ("empty.pdf", b"", "UPLOAD_EMPTY"),
])
def test_wrong_type_spoofed_or_empty_uploads_are_refused(merchant, merchant_user, name, content, code):
    with pytest.raises(ValidationFailed) as exc:
        kyc_document_upload(merchant=merchant, kind="other", upload=upload(name, content), actor=merchant_user)
    assert exc.value.code == code
    assert not merchant.kyc_documents.exists()


def test_oversized_upload_is_refused_with_the_limit_named(merchant, merchant_user, settings):
    settings.KYC_UPLOAD_MAX_BYTES = 1024 * 1024
    big = PDF_BYTES + b"0" * (1024 * 1024)
    with pytest.raises(ValidationFailed, match="at most 1 MB"):
        kyc_document_upload(merchant=merchant, kind="other", upload=upload("big.pdf", big), actor=merchant_user)


def test_officer_verifies_a_submitted_merchant_and_the_trail_says_who(merchant, merchant_user, staff):
    officer = staff[Role.CREDIT_OFFICER]
    _submitted(merchant, merchant_user)
    kyc_verify(merchant=merchant, actor=officer, reason="Licence checked")
    merchant.refresh_from_db()
    assert merchant.kyc_state == KycState.VERIFIED
    last = list(audit_trail_for(merchant))[-1]
    assert (last.actor, last.action, last.from_state, last.to_state, last.reason) == (
        officer, "kyc_verify", "submitted", "verified", "Licence checked")


def test_rejection_needs_a_reason_and_the_merchant_can_resubmit(merchant, merchant_user, staff):
    officer = staff[Role.CREDIT_OFFICER]
    _submitted(merchant, merchant_user)
    with pytest.raises(ValidationFailed, match="reason is required"):
        kyc_reject(merchant=merchant, actor=officer, reason="  ")
    kyc_reject(merchant=merchant, actor=officer, reason="Licence expired")
    merchant.refresh_from_db()
    assert (merchant.kyc_state, merchant.kyc_decision_reason) == (KycState.REJECTED, "Licence expired")
    kyc_document_upload(merchant=merchant, kind="business_licence", upload=upload("new.pdf", PDF_BYTES), actor=merchant_user)
    kyc_submit(merchant=merchant, actor=merchant_user)
    merchant.refresh_from_db()
    assert merchant.kyc_state == KycState.SUBMITTED and merchant.kyc_decision_reason == ""


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.TREASURER])
def test_only_credit_officers_and_admins_decide_kyc(merchant, merchant_user, staff, role):
    _submitted(merchant, merchant_user)
    with pytest.raises(Forbidden):
        kyc_verify(merchant=merchant, actor=staff[role])
    kyc_verify(merchant=merchant, actor=staff[Role.LENDER_ADMIN])  # admins hold every staff role


def test_suspend_and_reinstate_are_for_lender_admins(merchant, merchant_user, staff):
    _submitted(merchant, merchant_user)
    kyc_verify(merchant=merchant, actor=staff[Role.CREDIT_OFFICER])
    with pytest.raises(Forbidden):
        merchant_suspend(merchant=merchant, actor=staff[Role.CREDIT_OFFICER], reason="fraud")
    merchant_suspend(merchant=merchant, actor=staff[Role.LENDER_ADMIN], reason="fraud alert")
    assert Merchant.objects.get(pk=merchant.pk).kyc_state == KycState.SUSPENDED
    merchant_reinstate(merchant=merchant, actor=staff[Role.LENDER_ADMIN], reason="cleared")
    assert Merchant.objects.get(pk=merchant.pk).kyc_state == KycState.VERIFIED


def test_impossible_transitions_are_refused_with_the_current_state(merchant, staff):
    with pytest.raises(InvalidTransition, match="that is draft"):
        kyc_verify(merchant=merchant, actor=staff[Role.CREDIT_OFFICER])
    with pytest.raises(InvalidTransition):
        merchant_suspend(merchant=merchant, actor=staff[Role.LENDER_ADMIN], reason="x")


def test_state_cannot_be_assigned_directly(merchant):
    with pytest.raises(AttributeError):
        merchant.kyc_state = KycState.VERIFIED


def test_documents_are_frozen_while_under_review(merchant, merchant_user):
    _submitted(merchant, merchant_user)
    with pytest.raises(Exception, match="draft or rejected"):
        kyc_document_upload(merchant=merchant, kind="other", upload=upload("late.pdf", PDF_BYTES), actor=merchant_user)
