from decimal import Decimal

from django import forms
from django.contrib.auth.password_validation import validate_password

from apps.core.money import MAX_AMOUNT
from apps.financing.models import LoanProduct
from apps.merchants.models import KycDocumentKind
from apps.repayments.schedules import MAX_TERM_MONTHS


class SignupForm(forms.Form):
    company_name = forms.CharField(max_length=200)
    store_handle = forms.SlugField(max_length=64, help_text="Your shop's handle on the marketplace, e.g. acme-toys")
    contact_name = forms.CharField(max_length=120)
    contact_email = forms.EmailField()
    contact_phone = forms.RegexField(regex=r"^\+?[0-9 ()-]{6,32}$", max_length=32,
                                     error_messages={"invalid": "Enter a phone number (digits, spaces, +, - only)."})
    bank_name = forms.CharField(max_length=120, label="Bank for disbursements")
    bank_account_name = forms.CharField(max_length=200, label="Account holder")
    bank_account_number = forms.RegexField(regex=r"^[0-9A-Za-z ]{8,34}$", max_length=34, label="Account number",
                                           error_messages={"invalid": "Enter 8–34 letters or digits."})
    username = forms.CharField(max_length=150, help_text="You will sign in with this")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False)

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        elif data.get("password"):
            try:
                validate_password(data["password"])
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class DocumentUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=KycDocumentKind.choices)
    file = forms.FileField(help_text="PDF, JPEG or PNG")


class SalesCsvForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row: date,gross_sales,order_count,refunds,chargebacks")


class OrdersCsvForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row: external_id,buyer_id,amount,paid_amount,currency,paid_at,"
                                     "expected_ship_date,expected_settlement_date")


class TermLoanForm(forms.Form):
    """Input shape only; the product's limits are checked by the service (term_loan_apply)."""

    product = forms.ModelChoiceField(queryset=LoanProduct.objects.none(), empty_label=None)
    amount = forms.DecimalField(max_digits=20, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_AMOUNT,
                                label="Amount to borrow")
    term_months = forms.IntegerField(min_value=1, max_value=MAX_TERM_MONTHS, label="Term (months)")

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products  # this lender's products on offer: any other id is "not a valid choice"
        self.fields["product"].label_from_instance = lambda p: (
            f"{p.name}: {p.min_term_months}–{p.max_term_months} months"
            + (f", {p.min_amount:,.2f}–{p.max_amount:,.2f}" if p.min_amount and p.max_amount else ""))
