from rest_framework.permissions import BasePermission

from apps.partners.models import ApiClientKind


class IsApiClient(BasePermission):
    """An OAuth2 token of a registered API client holding the view's `required_scopes`.

    Sets `request.api_client`; views add `client_kind` to admit only one kind of client.
    """

    message = "A valid access token is required."

    def has_permission(self, request, view):
        token = request.auth
        client = getattr(getattr(token, "application", None), "api_client", None)
        if token is None or client is None or not token.is_valid():
            return False
        required = set(getattr(view, "required_scopes", ()))
        missing = required - set(token.scope.split())
        if missing:
            self.message = f"This token lacks the scope(s): {', '.join(sorted(missing))}."
            return False
        if client.partner_bank_id and not client.partner_bank.is_active:
            self.message = "This partner bank is not active."
            return False
        kind = getattr(view, "client_kind", None)
        if kind and client.kind != kind:
            self.message = f"Only {ApiClientKind(kind).label.lower()} clients may call this endpoint."
            return False
        request.api_client = client
        return True
