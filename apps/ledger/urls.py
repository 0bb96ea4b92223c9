from django.urls import path

from . import views

app_name = "ledger"

urlpatterns = [
    path("", views.capital, name="capital"),
    path("trial-balance/", views.trial_balance, name="trial-balance"),
    path("balance-sheet/", views.balance_sheet, name="balance-sheet"),
    path("income-statement/", views.income_statement, name="income-statement"),
    path("journal/", views.journal, name="journal"),
    path("funding/", views.funding, name="funding"),
    path("funding/<slug:kind>/", views.funding_event, name="funding-event"),
    path("rules/", views.rules, name="rules"),
]
