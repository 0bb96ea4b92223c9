from django import template

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """An audit action code as people read it: "kyc_verify" → "Verify", "accept_offer" → "Accept offer"."""
    return action.removeprefix("kyc_").replace("_", " ").capitalize()
