"""Back-office: end-of-day runs with their progress; a lender admin can start or resume one.

End of day is platform-wide (it runs every lender's book for a business date), so every
lender admin sees the runs; starting one is audited with the admin's name.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import staff_required
from apps.accounts.models import Role
from apps.core.audit import audit_record
from apps.core.calendar import business_date_today

from .forms import RunForm
from .models import EodRun, RunState
from .pipeline import dates_due, run_progress
from .tasks import eod_catch_up


@staff_required()
def runs(request):
    page = Paginator(EodRun.objects.all(), 30).get_page(request.GET.get("page"))
    running = EodRun.objects.filter(state=RunState.RUNNING).first()
    return render(request, "eod/runs.html", {
        "page": page, "running": running, "progress": run_progress(running) if running else [],
        "form": RunForm(initial={"business_date": business_date_today()}),
        "can_run": request.user.has_role(Role.LENDER_ADMIN), "due": dates_due(through=business_date_today()),
    })


@staff_required()
def run_detail(request, run_id: int):
    run = get_object_or_404(EodRun, pk=run_id)
    return render(request, "eod/run.html", {"run": run, "progress": run_progress(run)})


@require_POST
@staff_required(Role.LENDER_ADMIN)
def run_start(request):
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["business_date"]))
        return redirect("eod:runs")
    through = form.cleaned_data["business_date"]
    due = dates_due(through=through)
    if not due:
        messages.info(request, f"End of day is already complete through {through}.")
        return redirect("eod:runs")
    eod_catch_up.delay(through.isoformat())
    audit_record(actor=request.user, action="eod_requested", subject=request.user,
                 data={"through": through.isoformat(), "dates": [d.isoformat() for d in due]})
    messages.success(request, f"End of day started for {', '.join(d.isoformat() for d in due)}.")
    return redirect("eod:runs")
