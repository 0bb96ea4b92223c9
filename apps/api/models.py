from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotencyRecord(models.Model):
    """The stored outcome of a POST made with an Idempotency-Key, written in the same
    transaction as the work so a replay can never disagree with the books."""

    client_label = models.CharField(max_length=150)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_label", "key"], name="idempotency_unique_key")]

    def __str__(self):
        return f"{self.client_label} {self.key} → {self.status_code}"
