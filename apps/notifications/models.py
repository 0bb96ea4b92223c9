"""What merchants are told (notices) and how it leaves the building (the outbox).

A notice is written in the same transaction as the decision that caused it; its outbox
messages (one per channel) are sent afterwards by Celery with retries, so a failed e-mail
never rolls back a dunning decision and a rolled-back decision never sends anything.
"""

from django.db import models
from django.db.models import Q


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"


class Notice(models.Model):
    """A message to a merchant, shown in the portal; at most one per (merchant, loan, kind, due date)."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="notices")
    loan = models.ForeignKey("repayments.Loan", null=True, blank=True, on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(max_length=40, help_text="The dunning step or event that caused it")
    due_date = models.DateField(null=True, blank=True, help_text="The installment due date it is about")
    business_date = models.DateField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    channels = models.CharField(max_length=32, default="email", help_text="Comma-separated channels it is sent through")
    created_at = models.DateTimeField(db_default=models.functions.Now())
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A dunning step never fires twice for the same loan and due date.
            models.UniqueConstraint(fields=["merchant", "loan", "kind", "due_date"], nulls_distinct=False,
                                    name="notice_once_per_loan_kind_due_date"),
        ]
        indexes = [models.Index(fields=["merchant", "-created_at"])]

    def __str__(self):
        return f"{self.kind} to merchant {self.merchant_id}: {self.title}"


class OutboxState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"


class OutboxMessage(models.Model):
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    state = models.CharField(max_length=8, choices=OutboxState.choices, default=OutboxState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_default=models.functions.Now())
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=models.functions.Now())
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="outbox_pending_due")]

    def __str__(self):
        return f"{self.channel} to {self.recipient}: {self.subject} ({self.state})"
