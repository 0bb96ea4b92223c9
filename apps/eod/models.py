"""The record of each end-of-day run: one row per business date, one per (step, chunk of loan ids).

A chunk's work and its `done` mark commit in the same transaction, so a killed worker
leaves the chunk pending (never half-done) and a rerun does each chunk exactly once.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class EodRun(models.Model):
    business_date = models.DateField(unique=True)
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.RUNNING)
    step = models.CharField(max_length=40, blank=True, help_text="The step being worked on")
    chunk_size = models.PositiveIntegerField()
    id_min = models.BigIntegerField(default=0)
    id_max = models.BigIntegerField(default=0)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-business_date"]

    def __str__(self):
        return f"EOD {self.business_date} ({self.state})"


class EodChunk(models.Model):
    run = models.ForeignKey(EodRun, on_delete=models.CASCADE, related_name="chunks")
    step = models.CharField(max_length=40)
    lo = models.BigIntegerField(help_text="First loan id (inclusive)")
    hi = models.BigIntegerField(help_text="Last loan id (exclusive)")
    done = models.BooleanField(default=False)
    rows = models.IntegerField(default=0, help_text="Rows the chunk changed")
    seconds = models.FloatField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "step", "lo"], name="eod_chunk_unique")]
        indexes = [models.Index(fields=["run", "step"], condition=Q(done=False), name="eod_chunk_pending")]

    def __str__(self):
        return f"{self.run.business_date} {self.step} [{self.lo}, {self.hi})"
