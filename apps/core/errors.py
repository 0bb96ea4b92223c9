"""One hierarchy of domain errors with stable codes.

The API renders them as RFC 9457 problem+json; portal and back-office views show the
same message to people.
"""


class DomainError(Exception):
    code = "DOMAIN_ERROR"
    status = 400
    title = "Request could not be completed"

    def __init__(self, message: str, *, code: str | None = None, errors: list | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.errors = errors or []


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"
    status = 400
    title = "Invalid input"

    @classmethod
    def of_field(cls, field: str, message: str, *, code: str) -> "ValidationFailed":
        """One input is wrong: the API names it in errors[], as it does for a field its serializer refuses."""
        return cls(message, code=code, errors=[{"field": field, "message": message, "code": code}])


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    code = "FORBIDDEN"
    status = 403
    title = "Not allowed"


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"
    status = 409
    title = "Not allowed in the current state"


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409
    title = "Conflict"


class ReferenceReused(DomainError):
    """The caller's reference names an earlier request that differs from this one (another amount, say)."""

    code = "DUPLICATE_REFERENCE"
    status = 422
    title = "Reference already used"
