"""Recording and reading the audit trail."""

from django.db import models

from .models import AuditEvent


def subject_type_of(instance: models.Model) -> str:
    return instance._meta.label_lower


def actor_label_of(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return actor.get_username()


def audit_record(
    *, actor, action: str, subject: models.Model, from_state: str = "", to_state: str = "",
    reason: str = "", data: dict | None = None,
) -> AuditEvent:
    """Append one audit row. `actor` is a user, a label such as "api:<client>", or None."""
    return AuditEvent.objects.create(
        actor=actor if isinstance(actor, models.Model) else None,
        actor_label=actor_label_of(actor),
        action=action,
        subject_type=subject_type_of(subject),
        subject_id=str(subject.pk),
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=data or {},
    )


def audit_trail_for(subject: models.Model):
    return AuditEvent.objects.filter(
        subject_type=subject_type_of(subject), subject_id=str(subject.pk)
    ).select_related("actor")
