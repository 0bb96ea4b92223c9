from django import forms


class GroupCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="Group name")


class InviteForm(forms.Form):
    store_handle = forms.SlugField(max_length=64, label="Store handle of the merchant to invite",
                                   help_text="Their shop's handle on the marketplace, e.g. acme-toys")
