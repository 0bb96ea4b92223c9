import datetime

from django import forms

from apps.core.calendar import business_date_today


class RunForm(forms.Form):
    business_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}),
                                    help_text="Missed dates before it run first, in order.")

    def clean_business_date(self):
        value = self.cleaned_data["business_date"]
        if value > business_date_today():
            raise forms.ValidationError("End of day cannot run for a date that has not happened yet.")
        if value < business_date_today() - datetime.timedelta(days=366):
            raise forms.ValidationError("That is more than a year ago; run it from the command line if you mean it.")
        return value
