from oauth2_provider.scopes import SettingsScopes


class ApiClientScopes(SettingsScopes):
    """A client may only be granted the scopes its ApiClient row allows."""

    def _client_scopes(self, application) -> set[str]:
        client = getattr(application, "api_client", None) if application is not None else None
        return client.scope_set() if client is not None else set()

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        available = super().get_available_scopes(application, request, *args, **kwargs)
        if application is None:
            return available
        allowed = self._client_scopes(application)
        return [s for s in available if s in allowed]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return sorted(self._client_scopes(application))
