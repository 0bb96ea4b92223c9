"""Who may reach which face: decorators for portal (merchant users) and back-office (staff)."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from .models import Role


def merchant_required(view):
    """Portal pages: a signed-in merchant user; `request.merchant` is their one tenant."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        if user.role != Role.MERCHANT:
            raise PermissionDenied("The merchant portal is for merchant users.")
        request.merchant = user.merchant
        return view(request, *args, **kwargs)

    return wrapped


def staff_required(*roles: str):
    """Back-office pages: signed-in lender staff holding one of `roles` (any staff if none)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("backoffice:login"))
            if not user.is_lender_staff:
                raise PermissionDenied("The back-office is for lender staff.")
            if roles and not user.has_role(*roles):
                raise PermissionDenied("Your role does not allow this page.")
            request.lender = user.lender
            return view(request, *args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator
