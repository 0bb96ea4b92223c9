"""Back-office forms: input shape only; the services decide."""

from django import forms

from apps.financing.models import LoanProduct
from apps.financing.products import EDITABLE_FIELDS
from apps.repayments.allocation import strategy_choices


class LoanProductForm(forms.ModelForm):
    allocation_strategy = forms.ChoiceField(choices=strategy_choices, help_text="Order in which a payment settles what is owed")

    class Meta:
        model = LoanProduct
        fields = ["code", "kind", "method", *EDITABLE_FIELDS]
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # applications and loans refer to these
            for name in ("code", "kind", "method"):
                self.fields[name].disabled = True
