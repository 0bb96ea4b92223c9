from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone

from .models import User
from .services import user_lockout_remaining, user_login_failure_record, user_login_success_record


class LockoutLoginForm(forms.Form):
    """Sign-in with failed-login lockout, limited to the roles a face admits."""

    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    invalid_message = "That username and password do not match."

    def __init__(self, request, *args, allowed_roles: frozenset[str], face: str, **kwargs):
        self.request = request
        self.allowed_roles = allowed_roles
        self.face = face
        self.user = None
        super().__init__(*args, **kwargs)

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not username or not password:
            return self.cleaned_data
        known = User.objects.filter(username=username).first()
        if known is not None and (remaining := user_lockout_remaining(user=known)):
            until = timezone.localtime(known.locked_until)
            raise forms.ValidationError(
                f"This account is locked after {settings.LOGIN_LOCKOUT_THRESHOLD} failed sign-ins. "
                f"Try again after {until:%H:%M} ({int(remaining.total_seconds() // 60) + 1} min).",
                code="locked",
            )
        user = authenticate(self.request, username=username, password=password)
        if user is None:
            if known is not None:
                user_login_failure_record(user=known)
            raise forms.ValidationError(self.invalid_message, code="invalid_login")
        if user.role not in self.allowed_roles:
            raise forms.ValidationError(
                f"This account cannot sign in to the {self.face}.", code="wrong_face"
            )
        user_login_success_record(user=user)
        self.user = user
        return self.cleaned_data
