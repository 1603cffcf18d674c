"""Create the chain's head row up front, so the first two appenders cannot race to make it."""

from django.db import migrations


def create_head(apps, schema_editor):
    EventHead = apps.get_model("projects", "EventHead")
    EventHead.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("projects", "0002_event_append_only")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
