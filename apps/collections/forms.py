"""Back-office forms of the collections screens (shape only; the services hold the rules)."""

from decimal import Decimal

from django import forms

from .models import ContactChannel, ContactOutcome


class ContactForm(forms.Form):
    channel = forms.ChoiceField(choices=ContactChannel.choices)
    outcome = forms.ChoiceField(choices=ContactOutcome.choices)
    note = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class PromiseForm(forms.Form):
    amount = forms.DecimalField(max_digits=20, decimal_places=2, min_value=Decimal("0.01"))
    promised_date = forms.DateField(label="Promised by", widget=forms.DateInput(attrs={"type": "date"}))


class AssignForm(forms.Form):
    collector = forms.ModelChoiceField(queryset=None, required=False, empty_label="— unassigned —")

    def __init__(self, *args, collectors, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collector"].queryset = collectors


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
