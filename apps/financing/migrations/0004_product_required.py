"""Every application names its product; the product's terms leave the financing policy (0003 copied them)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("financing", "0003_seed_loan_products")]

    operations = [
        migrations.AlterField(
            model_name="financingapplication",
            name="product",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="applications",
                                    to="financing.loanproduct"),
        ),
        migrations.RemoveField(model_name="financingpolicy", name="fee_rate"),
        migrations.RemoveField(model_name="financingpolicy", name="grace_days"),
        migrations.RemoveField(model_name="financingpolicy", name="penalty_annual_rate"),
    ]
