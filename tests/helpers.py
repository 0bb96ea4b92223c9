"""Small builders the tests share."""

import io

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\0" * 64


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


def sales_csv(rows: list[str], header: str = "date,gross_sales,order_count,refunds,chargebacks") -> io.BytesIO:
    data = io.BytesIO(("\n".join([header, *rows]) + "\n").encode())
    data.name = "sales.csv"
    return data
