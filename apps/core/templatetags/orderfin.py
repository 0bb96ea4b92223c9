from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """An audit action code as people read it: "kyc_verify" → "Verify", "accept_offer" → "Accept offer"."""
    return action.removeprefix("kyc_").replace("_", " ").capitalize()


@register.filter
def percent(rate) -> str:
    """A rate stored as a fraction as people read it: Decimal("0.0724") → "7.24%" (to the hundredth, half up)."""
    if rate in (None, ""):
        return "—"
    return f"{(Decimal(rate) * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"
