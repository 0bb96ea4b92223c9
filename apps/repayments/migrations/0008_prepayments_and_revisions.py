"""The merchant's prepayment choice on each repayment, and schedule revisions a reversal can undo."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0004_alter_journalentry_kind'),
        ('repayments', '0007_loan_product_terms'),
    ]

    operations = [
        migrations.AddField(
            model_name='repayment',
            name='prepayment',
            field=models.CharField(choices=[('reduce_installment', 'Lower installments, same number of months'), ('reduce_term', 'Same installment, fewer months')], default='reduce_installment', max_length=20),
        ),
        migrations.CreateModel(
            name='ScheduleRevision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reason', models.CharField(choices=[('prepayment', 'Partial prepayment'), ('payoff', 'Paid off: interest not yet accrued dropped')], max_length=12)),
                ('choice', models.CharField(blank=True, choices=[('reduce_installment', 'Lower installments, same number of months'), ('reduce_term', 'Same installment, fewer months')], max_length=20)),
                ('prepaid', models.DecimalField(decimal_places=2, default=0, max_digits=20)),
                ('before', models.JSONField()),
                ('after', models.JSONField()),
                ('pledges_released', models.JSONField(blank=True, default=list, help_text='Pledge ids a payoff released')),
                ('reverted_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.CharField(max_length=150)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('loan', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='schedule_revisions', to='repayments.loan')),
                ('release_entry', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='schedule_revision', to='ledger.journalentry')),
                ('repayment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='schedule_revisions', to='repayments.repayment')),
            ],
            options={
                'ordering': ['id'],
                'indexes': [models.Index(fields=['loan', 'reverted_at'], name='repayments__loan_id_409691_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('prepaid__gte', 0)), name='schedule_revision_prepaid_non_negative'), models.CheckConstraint(condition=models.Q(('reason', 'payoff'), models.Q(('repayment__isnull', False), models.Q(('choice', ''), _negated=True)), _connector='OR'), name='schedule_revision_prepayment_has_its_payment')],
            },
        ),
    ]
