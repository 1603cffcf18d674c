"""One hash chain per project (and per team, and the portal's own).

Events recorded before this stay in the ``portal`` chain with their sequence and
hashes as written, so they verify as before; new events go to their project's or
team's chain. Adding a column with a default rewrites no row, so the append-only
trigger is not fired. SQLite rebuilds the table to drop the old unique index,
which drops its trigger too: it is created again at the end.
"""

from django.db import migrations, models

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS projects_event_append_only BEFORE UPDATE ON projects_event
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
"""


# The portal head was inserted with an explicit id, which left PostgreSQL's sequence
# behind it; heads are now created all the time, so move the sequence past it.
PG_SEQUENCE = """
SELECT setval(pg_get_serial_sequence('projects_eventhead', 'id'), COALESCE(MAX(id), 1))
FROM projects_eventhead;
"""


def finish(apps, schema_editor):
    sql = {"sqlite": SQLITE_TRIGGER, "postgresql": PG_SEQUENCE}.get(schema_editor.connection.vendor)
    if sql:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("projects", "0008_signoffs_and_measurements")]

    operations = [
        migrations.AlterModelOptions(name="event", options={"ordering": ["id"]}),
        migrations.AddField(
            model_name="event",
            name="chain",
            field=models.CharField(default="portal", max_length=40),
        ),
        migrations.AddField(
            model_name="eventhead",
            name="key",
            field=models.CharField(default="portal", max_length=40, unique=True),
        ),
        migrations.AlterField(
            model_name="event",
            name="seq",
            field=models.PositiveBigIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                fields=("chain", "seq"), name="event_chain_seq_unique"
            ),
        ),
        migrations.RunPython(finish, migrations.RunPython.noop),
    ]
