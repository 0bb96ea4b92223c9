"""Back-office loan products: every staff member reads them; a lender admin adds and changes them (audited)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from apps.accounts.access import staff_required
from apps.accounts.models import Role
from apps.core.audit import audit_trail_for
from apps.core.errors import DomainError
from apps.financing.models import LoanProduct
from apps.financing.products import EDITABLE_FIELDS, loan_product_save, loan_products_default_ensure, loan_products_list

from .forms import LoanProductForm


@staff_required()
def product_list(request):
    loan_products_default_ensure(lender=request.lender)
    return render(request, "backoffice/products.html", {
        "products": loan_products_list(lender=request.lender), "can_edit": request.user.has_role(Role.LENDER_ADMIN),
    })


@staff_required(Role.LENDER_ADMIN)
def product_edit(request, product_id: int | None = None):
    product = get_object_or_404(loan_products_list(lender=request.lender), pk=product_id) if product_id else None
    form = LoanProductForm(request.POST or None, instance=product or LoanProduct(lender=request.lender))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        identity = {} if product else {name: data[name] for name in ("code", "kind", "method")}
        try:
            saved = loan_product_save(lender=request.lender, actor=request.user, product=product, **identity,
                                      **{name: data[name] for name in EDITABLE_FIELDS})
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{saved.name} saved. Loans already disbursed keep their terms.")
            return redirect("backoffice:products")
    return render(request, "backoffice/product_form.html", {
        "form": form, "product": product, "timeline": audit_trail_for(product) if product else [],
    }, status=400 if form.errors else 200)
