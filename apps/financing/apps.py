from django.apps import AppConfig


class FinancingConfig(AppConfig):
    name = "apps.financing"
    label = "financing"
    verbose_name = "Financing: pre-sale orders, borrowing base, applications, offers"
