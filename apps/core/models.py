from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what, when, and why: one row per state change anywhere in the system.

    Append-only; the subject is named by app label, model and primary key so that any
    entity can carry a timeline without a foreign key per table.
    """

    # Read by subject only (Meta): every event pays for each index, so none on the time, and the actor's (which a
    # user's deletion checks) only where there is one: system and API events have none.
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    actor_label = models.CharField(max_length=150, help_text="Who, for system or API actors too")
    action = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=64)
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "at"]),
            models.Index(fields=["actor"], condition=models.Q(actor__isnull=False), name="core_audit_actor"),
        ]
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.subject_type}#{self.subject_id}"
