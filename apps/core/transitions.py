"""Run a django-fsm transition the one sanctioned way: row locked, checked, saved, audited."""

from django.db import models, transaction
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from .audit import audit_record
from .errors import Forbidden, InvalidTransition


@transaction.atomic
def transition_apply(
    *, instance: models.Model, transition: str, actor, reason: str = "",
    state_field: str = "state", update_fields: tuple[str, ...] = (), method_kwargs: dict | None = None,
) -> models.Model:
    """Lock the row, run `instance.<transition>(**method_kwargs)`, save and write the audit row.

    Raises InvalidTransition (with the current state in the message) when the machine
    does not allow it, Forbidden when the actor lacks the transition's permission.
    """
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    method = getattr(locked, transition)
    from_state = getattr(locked, state_field)
    if not can_proceed(method):
        raise InvalidTransition(
            f"Cannot {transition.replace('_', ' ')} a {locked._meta.verbose_name} "
            f"that is {from_state.replace('_', ' ')}."
        )
    if isinstance(actor, models.Model) and not has_transition_perm(method, actor):
        raise Forbidden(f"You are not allowed to {transition.replace('_', ' ')}.")
    try:
        method(**(method_kwargs or {}))
    except TransitionNotAllowed as exc:  # a condition failed between check and call
        raise InvalidTransition(str(exc)) from exc
    locked.save(update_fields=[state_field, *update_fields])
    audit_record(
        actor=actor, action=transition, subject=locked, from_state=from_state,
        to_state=getattr(locked, state_field), reason=reason,
    )
    # Keep the caller's object in step with the database.
    for field in (state_field, *update_fields):
        instance.__dict__[field] = getattr(locked, field)
    return locked
