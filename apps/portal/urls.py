from django.urls import include, path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("calculator/", views.calculator, name="calculator"),
    path("login/", views.portal_login, name="login"),
    path("logout/", views.portal_logout, name="logout"),
    path("signup/", views.signup, name="signup"),
    path("kyc/", views.kyc, name="kyc"),
    path("kyc/submit/", views.kyc_submit_view, name="kyc-submit"),
    path("kyc/documents/<int:document_id>/", views.document_download, name="document"),
    path("sales/", views.sales, name="sales"),
    path("orders/", views.orders, name="orders"),
    path("apply/", views.apply, name="apply"),
    path("term-loans/", views.term_loans, name="term-loans"),
    path("applications/", views.applications, name="applications"),
    path("applications/<int:application_id>/", views.application_detail, name="application"),
    path("loans/", views.loans, name="loans"),
    path("loans/<int:loan_id>/", views.loan_detail, name="loan"),
    path("group/", include("apps.groups.portal_urls")),
]
