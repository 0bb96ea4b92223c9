import uuid
from decimal import Decimal

from django import forms


class PaymentForm(forms.Form):
    """A payment; the hidden reference makes a double submit post once."""

    amount = forms.DecimalField(max_digits=20, decimal_places=2, min_value=Decimal("0.01"))
    reference = forms.CharField(max_length=100, widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)


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
