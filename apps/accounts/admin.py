from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Lender, User


@admin.register(User)
class OrderFinUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("OrderFin", {"fields": ("role", "lender", "merchant", "locked_until")}),)
    list_display = ("username", "role", "lender", "merchant", "is_active")
    list_filter = ("role", "lender")


admin.site.register(Lender)
