import uuid
from decimal import Decimal

from django import forms


class PaymentForm(forms.Form):
    """A payment; the hidden reference makes a double submit post once."""

    amount = forms.DecimalField(max_digits=20, decimal_places=2, min_value=Decimal("0.01"))
    reference = forms.CharField(max_length=100, widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)
