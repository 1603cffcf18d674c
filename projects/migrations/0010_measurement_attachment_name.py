"""Business-figure attachments are stored under generated names; the name a file came
with is kept here. Rows from before keep a blank name: their stored name is the one
they came with, and downloads fall back to it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0009_event_chains"),
    ]

    operations = [
        migrations.AddField(
            model_name="businessmeasurement",
            name="attachment_name",
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
