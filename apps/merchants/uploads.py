"""Checking uploaded KYC documents: size, declared type and the file's real signature."""

from dataclasses import dataclass

from django.conf import settings

from apps.core.errors import ValidationFailed

# Accepted types: extension → (content type, leading bytes every such file starts with).
ACCEPTED = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
}


@dataclass(frozen=True)
class CheckedUpload:
    extension: str
    content_type: str
    size: int


def upload_check(upload) -> CheckedUpload:
    """Refuse anything but a PDF, JPEG or PNG within the size limit, judged by its bytes."""
    name = (upload.name or "").lower()
    extension = next((ext for ext in ACCEPTED if name.endswith(ext)), None)
    limit = settings.KYC_UPLOAD_MAX_BYTES
    if upload.size > limit:
        raise ValidationFailed(
            f"{upload.name} is {upload.size / 1048576:.1f} MB; documents may be at most {limit / 1048576:.0f} MB.",
            code="UPLOAD_TOO_LARGE",
        )
    if upload.size == 0:
        raise ValidationFailed(f"{upload.name} is empty.", code="UPLOAD_EMPTY")
    if extension is None:
        raise ValidationFailed(
            f"{upload.name} is not a PDF, JPEG or PNG file.", code="UPLOAD_TYPE_NOT_ALLOWED"
        )
    content_type, signatures = ACCEPTED[extension]
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(sig) for sig in signatures):
        raise ValidationFailed(
            f"{upload.name} does not look like a real {extension[1:].upper()} file.",
            code="UPLOAD_TYPE_MISMATCH",
        )
    return CheckedUpload(extension=extension, content_type=content_type, size=upload.size)
