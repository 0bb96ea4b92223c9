"""A loan's contract terms copied from its product at disbursement: how its schedule is built, how payments are allocated."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('repayments', '0006_delinquency_db_defaults'),
    ]

    operations = [
        migrations.AddField(
            model_name='loan',
            name='allocation_strategy',
            field=models.CharField(default='default', help_text='A name in apps.repayments.allocation.STRATEGIES', max_length=32),
        ),
        migrations.AddField(
            model_name='loan',
            name='repayment_method',
            field=models.CharField(choices=[('bullet', 'Bullet: one installment at maturity'), ('equal_installment', 'Equal installments (等额本息)'), ('equal_principal', 'Equal principal (等额本金)'), ('interest_only', 'Interest-only with balloon')], default='bullet', max_length=20),
        ),
    ]
