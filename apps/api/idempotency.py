"""Idempotency-Key on every POST.

Same key and body (JSON compared by content) → the stored response replayed (header `Idempotent-Replayed: true`);
same key with a different body → 422; same key while the first request is still in flight
→ 409. The record is written in the same transaction as the work, and a failed request
stores nothing (it rolled back), so retrying it runs it again.

In-flight detection uses a transaction-scoped advisory lock on (client, key): the first
request holds it until it commits, so a concurrent duplicate fails fast instead of
queueing behind it.
"""

import hashlib
import json

from django.db import connection, transaction
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import DomainError

from .models import IdempotencyRecord

MAX_KEY_LENGTH = 255


class IdempotencyKeyInFlight(DomainError):
    code = "IDEMPOTENCY_KEY_IN_FLIGHT"
    status = 409
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422
    title = "Idempotency-Key reused with a different request"


class _Replay(Exception):
    def __init__(self, record: IdempotencyRecord):
        self.record = record


def _fingerprint(request) -> str:
    """The method, path and body; a JSON body by what it says, so a retry that spaces or orders it otherwise matches."""
    body = request._request.body
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:  # not JSON (nor UTF-8): the bytes themselves
        pass
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


class IdempotentAPIView(APIView):
    """Base view for the API: POSTs honour Idempotency-Key."""

    def _idempotency_key(self, request) -> str | None:
        return request.headers.get("Idempotency-Key") if request.method == "POST" else None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and permissions first
        key = self._idempotency_key(request)
        if not key:
            return
        if len(key) > MAX_KEY_LENGTH:
            raise DomainError(f"Idempotency-Key may be at most {MAX_KEY_LENGTH} characters.", code="IDEMPOTENCY_KEY_INVALID")
        client_label = request.api_client.label
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"{client_label}|{key}"])
            (acquired,) = cursor.fetchone()
        if not acquired:
            raise IdempotencyKeyInFlight(f"The request with Idempotency-Key {key!r} has not finished; retry shortly.")
        fingerprint = _fingerprint(request)
        record = IdempotencyRecord.objects.filter(client_label=client_label, key=key).first()
        if record is not None:
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was first used with a different request; use a new key."
                )
            raise _Replay(record)
        request.idempotency = (client_label, key, fingerprint)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return Response(exc.record.response_body, status=exc.record.status_code,
                            headers={"Idempotent-Replayed": "true"})
        return super().handle_exception(exc)

    def dispatch(self, request, *args, **kwargs):
        if request.method != "POST" or "Idempotency-Key" not in request.headers:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            pending = getattr(self.request, "idempotency", None)
            if response.status_code >= 400:
                transaction.set_rollback(True)  # nothing half-written, nothing stored
            elif pending is not None:
                client_label, key, fingerprint = pending
                IdempotencyRecord.objects.create(client_label=client_label, key=key, fingerprint=fingerprint,
                                                 status_code=response.status_code, response_body=response.data)
        return response
