from django.urls import include, path

from . import product_views, views

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("calculator/", views.calculator, name="calculator"),
    path("login/", views.backoffice_login, name="login"),
    path("logout/", views.backoffice_logout, name="logout"),
    path("kyc/", views.kyc_queue, name="kyc-queue"),
    path("merchants/", views.merchant_list, name="merchants"),
    path("merchants/<int:merchant_id>/", views.merchant_detail, name="merchant"),
    path("merchants/<int:merchant_id>/refund-credit/", views.merchant_credit_refund_view, name="merchant-refund-credit"),
    path("merchants/<int:merchant_id>/<slug:action>/", views.merchant_decide, name="merchant-decide"),
    path("documents/<int:document_id>/", views.document_download, name="document"),
    path("applications/", views.application_list, name="applications"),
    path("applications/<int:application_id>/", views.application_detail, name="application"),
    path("loans/", views.loan_list, name="loans"),
    path("loans/<int:loan_id>/", views.loan_detail, name="loan"),
    path("loans/<int:loan_id>/repayments/<int:repayment_id>/reverse/", views.repayment_reverse_view,
         name="repayment-reverse"),
    path("reconciliation/", views.reconciliation, name="reconciliation"),
    path("groups/", include("apps.groups.backoffice_urls")),
    path("products/", product_views.product_list, name="products"),
    path("products/new/", product_views.product_edit, name="product-new"),
    path("products/<int:product_id>/", product_views.product_edit, name="product"),
]
