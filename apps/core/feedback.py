"""Telling the person at a screen how a service call went."""

from django import forms
from django.contrib import messages

from .errors import DomainError


def call_and_tell(request, action, done: str, already=None) -> None:
    """Call `action`; say its refusal (a domain error's message), or `done`. With `already`, a result marked
    `replayed` (a second submit: the first one stands and nothing was done again) gets `already(result)` instead."""
    try:
        result = action()
    except DomainError as exc:
        messages.error(request, exc.message)
        return
    if already is not None and result.replayed:
        messages.info(request, already(result))
    else:
        messages.success(request, done)


def form_problems(form: forms.Form) -> str:
    """A bound form's errors as one line a message can show: "Amount: Ensure …"."""
    return " ".join(f"{form.fields[name].label or name.replace('_', ' ').capitalize()}: {' '.join(errors)}"
                    if name in form.fields else " ".join(errors) for name, errors in form.errors.items())
