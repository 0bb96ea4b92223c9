from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("bank/profile/", views.BankProfileView.as_view(), name="bank-profile"),
    path("merchants/<int:merchant_id>/sales/", views.MerchantSalesView.as_view(), name="merchant-sales"),
]
