import uuid
from decimal import Decimal

from django import forms

from apps.core.calendar import business_date_today
from apps.core.money import MAX_AMOUNT

from .models import PrepaymentChoice
from .prepayments import prepayment_choices_for
from .quotes import PAST_THE_CALENDAR
from .schedules import add_months


class PaymentForm(forms.Form):
    """A payment; the hidden reference makes a double submit post once."""

    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_AMOUNT)
    reference = forms.CharField(max_length=100, widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)


class RepaymentForm(PaymentForm):
    """A payment on a loan. On a monthly schedule the merchant says what paying ahead does to the rest of it."""

    prepayment = forms.ChoiceField(label="If this pays ahead of the schedule", widget=forms.RadioSelect, required=False,
                                   initial=PrepaymentChoice.REDUCE_INSTALLMENT,
                                   help_text="Only what goes beyond the current installment counts as paying ahead.")

    def __init__(self, *args, loan, **kwargs):
        super().__init__(*args, **kwargs)
        choices = prepayment_choices_for(loan.repayment_method)
        if choices:
            self.fields["prepayment"].choices = choices
        else:  # a single bullet: nothing is left to reshape
            del self.fields["prepayment"]

    @property
    def prepayment_choice(self) -> str:
        return self.cleaned_data.get("prepayment") or PrepaymentChoice.REDUCE_INSTALLMENT


class ReceivedRepaymentForm(RepaymentForm):
    """A payment staff record from the bank statement, which may show it received on an earlier day."""

    received_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                  help_text="As the bank statement shows it; empty for today. An earlier date puts it "
                                            "in date order among the loan's payments.")

    def clean_received_on(self):
        value = self.cleaned_data["received_on"]
        if value and value > business_date_today():
            raise forms.ValidationError("A payment cannot be received on a day that has not come yet.")
        return value


class CalculatorForm(forms.Form):
    method = forms.ChoiceField(choices=[("equal_installment", "Equal installments (等额本息)"),
                                        ("equal_principal", "Equal principal (等额本金)"),
                                        ("interest_only", "Interest-only with balloon"),
                                        ("bullet", "Bullet (pre-sale advance)")])
    principal = forms.DecimalField(max_digits=20, decimal_places=2, min_value=Decimal("0.01"), initial="100000.00")
    annual_rate = forms.DecimalField(max_digits=7, decimal_places=4, min_value=Decimal("0"), initial="0.0700",
                                     help_text="A fraction: 0.0700 is 7% a year")
    term_months = forms.IntegerField(min_value=1, max_value=600, initial=12)
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    day_count = forms.ChoiceField(choices=[("ACT/360", "ACT/360"), ("ACT/365", "ACT/365")], required=False,
                                  help_text="Bullet loans only")

    def clean(self):
        values = super().clean()
        start, months = values.get("start"), values.get("term_months")
        if start and months:
            try:
                add_months(start, months + 1)  # the last due date, with a month to spare for a bullet's grace
            except (ValueError, OverflowError):
                self.add_error("start", PAST_THE_CALENDAR)
        return values
