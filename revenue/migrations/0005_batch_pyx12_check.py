"""pyx12's verdict on each 837P batch (docs/decisions/0045): existing batches start "not yet
checked" and the beat sweep queues their check."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('revenue', '0004_ledger_append_only_codes_and_roles'),
    ]

    operations = [
        migrations.AddField(
            model_name='exportbatch',
            name='check_requested_at',
            field=models.DateTimeField(blank=True, help_text='When a check was last queued; empty: never queued.', null=True),
        ),
        migrations.AddField(
            model_name='exportbatch',
            name='check_status',
            field=models.CharField(choices=[('pending', 'Not yet checked'), ('valid', 'No findings'), ('findings', 'Findings')], default='pending', max_length=8),
        ),
        migrations.AddField(
            model_name='exportbatch',
            name='checked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='exportbatch',
            name='finding_count',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='exportbatch',
            name='findings',
            field=models.JSONField(blank=True, default=list, help_text="pyx12's first findings: segment, element, message."),
        ),
        migrations.AddIndex(
            model_name='exportbatch',
            index=models.Index(condition=models.Q(('check_status', 'pending')), fields=['check_requested_at'], name='exportbatch_check_pending'),
        ),
    ]
