"""Back-office forms: input shape only; the services decide."""

import uuid
from decimal import Decimal

from django import forms

from apps.core.calendar import business_date_today
from apps.core.money import MAX_AMOUNT

from .models import Acct, BorrowingFacility, FacilityState, RuleSet


def AmountField(**kwargs):  # noqa: N802 - a field factory reads like a field class
    return forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_AMOUNT, **kwargs)


class _Referenced(forms.Form):
    """A one-time reference rendered with the form: submitting twice posts once."""

    reference = forms.CharField(max_length=120, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("reference", f"bo-{uuid.uuid4().hex}")
        super().__init__(*args, **kwargs)

    def clean_reference(self) -> str:
        # The browser sends it, so it gets a namespace of its own: it can never take a reference the system will post
        # (a disbursement's, end of day's).
        return f"treasury:{self.cleaned_data['reference']}"


class CapitalForm(_Referenced):
    amount = AmountField()
    description = forms.CharField(max_length=200, required=False)
    business_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                    help_text="Defaults to today's business date")


class FacilityForm(_Referenced):
    bank_name = forms.CharField(max_length=200, label="Lending bank")
    limit = AmountField()
    annual_rate = forms.DecimalField(max_digits=7, decimal_places=4, min_value=0, max_value=100, label="Annual rate (%)")


class FacilityMoneyForm(_Referenced):
    facility = forms.ModelChoiceField(queryset=BorrowingFacility.objects.none())
    amount = AmountField()
    business_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, lender, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = BorrowingFacility.objects.filter(lender=lender, state=FacilityState.ACTIVE)


class RuleSetForm(forms.ModelForm):
    class Meta:
        model = RuleSet
        fields = ["effective_from", "borrowing_cap_ratio", "max_lending_banks", "single_borrower_ratio",
                  "reserve_coverage_min", "apr_multiple_of_lpr", "min_own_share_colending", "upfront_deduction_allowed",
                  "reason"]
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"}), "reason": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = True
        self.fields["effective_from"].initial = business_date_today()


class AsOfForm(forms.Form):
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class PeriodForm(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")


class JournalFilterForm(PeriodForm):
    account = forms.ChoiceField(required=False, choices=[("", "Any account"), *Acct.choices])
    reference = forms.CharField(required=False, max_length=120)
