"""The loan calculator both faces show: a form in, a quote out (or the reason there is none)."""

from apps.core.calendar import business_date_today
from apps.core.errors import ValidationFailed

from .forms import CalculatorForm
from .quotes import quote


def calculator_context(request) -> dict:
    data = request.GET if "principal" in request.GET else None
    form = CalculatorForm(data, initial={"start": business_date_today()})
    result = None
    if data is not None and form.is_valid():
        values = form.cleaned_data
        try:
            result = quote(method=values["method"], principal=values["principal"], annual_rate=values["annual_rate"],
                           start=values["start"], term_months=values["term_months"],
                           day_count=(values["day_count"] or None) if values["method"] == "bullet" else None)
        except ValidationFailed as exc:
            form.add_error(None, exc.message)
    return {"form": form, "quote": result}
