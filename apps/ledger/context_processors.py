"""`capital_breach` for every template: the lender's capital position when it is in breach, else None.

Lazy: the two queries run only when a template actually reads it (the banner), and only for staff.
"""

from django.utils.functional import SimpleLazyObject

from .selectors import capital_position_get


def breach_position_get(user):
    if not (user.is_authenticated and getattr(user, "is_lender_staff", False)):
        return None
    position = capital_position_get(lender=user.lender)
    return position if position.in_breach else None


def capital_breach(request):
    user = getattr(request, "user", None)
    if user is None:
        return {"capital_breach": None}
    return {"capital_breach": SimpleLazyObject(lambda: breach_position_get(user) or "")}
