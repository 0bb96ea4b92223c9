from django.apps import AppConfig


class RepaymentsConfig(AppConfig):
    name = "apps.repayments"
    label = "repayments"
    verbose_name = "Repayments: schedules, sweeps, allocation"
