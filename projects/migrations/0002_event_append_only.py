"""Make the database itself refuse changes to written events.

PostgreSQL refuses UPDATE and DELETE. SQLite refuses UPDATE only: the test
runner empties tables with DELETE there, and a deleted row still breaks the
gapless sequence that verify_events checks.
"""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION projects_event_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER projects_event_append_only
    BEFORE UPDATE OR DELETE ON projects_event
    FOR EACH ROW EXECUTE FUNCTION projects_event_refuse_change();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS projects_event_append_only ON projects_event;
DROP FUNCTION IF EXISTS projects_event_refuse_change();
"""
SQLITE_UP = """
CREATE TRIGGER projects_event_append_only BEFORE UPDATE ON projects_event
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS projects_event_append_only;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": PG_UP, "sqlite": SQLITE_UP}.get(vendor)
    if sql:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN}.get(vendor)
    if sql:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
