"""Sign-in and sign-out, shared by both faces."""

from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .forms import LockoutLoginForm


def login_view(request, *, allowed_roles, face, home, template):
    form = LockoutLoginForm(request, request.POST or None, allowed_roles=allowed_roles, face=face)
    if request.method == "POST" and form.is_valid():
        login(request, form.user)
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            target = ""
        return redirect(target or home)
    status = 400 if request.method == "POST" else 200  # a valid POST has redirected above
    return render(request, template, {"form": form, "face": face}, status=status)


@require_POST
def logout_view(request, *, login_url):
    logout(request)
    return redirect(login_url)
