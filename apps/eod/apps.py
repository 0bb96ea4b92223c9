from django.apps import AppConfig


class EodConfig(AppConfig):
    name = "apps.eod"
    label = "eod"
    verbose_name = "End of day"
