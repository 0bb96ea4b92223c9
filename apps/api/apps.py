from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "apps.api"
    label = "api"
    verbose_name = "API plumbing: OAuth2 scopes, problem+json errors, idempotency, pagination"
