"""Portal: the merchant's notices (dunning letters, guarantee calls, …), newest first."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from apps.accounts.access import merchant_required

from .models import Notice


@merchant_required
def notices(request):
    page = Paginator(Notice.objects.filter(merchant=request.merchant).select_related("loan"), 25).get_page(
        request.GET.get("page"))
    unread = [n.pk for n in page if n.read_at is None]
    response = render(request, "notifications/notices.html", {"page": page, "unread": set(unread)})
    Notice.objects.filter(pk__in=unread).update(read_at=timezone.now())  # shown once as new
    return response
