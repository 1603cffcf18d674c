"""Make the database refuse changes to recorded lineage, as it does for events."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION projects_lineage_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'lineage is immutable once recorded';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER projects_lineage_immutable
    BEFORE UPDATE OR DELETE ON projects_datasetlineage
    FOR EACH ROW EXECUTE FUNCTION projects_lineage_refuse_change();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS projects_lineage_immutable ON projects_datasetlineage;
DROP FUNCTION IF EXISTS projects_lineage_refuse_change();
"""
# SQLite refuses UPDATE only: the test runner empties its tables with DELETE.
SQLITE_UP = """
CREATE TRIGGER projects_lineage_immutable BEFORE UPDATE ON projects_datasetlineage
BEGIN SELECT RAISE(ABORT, 'lineage is immutable once recorded'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS projects_lineage_immutable;"


def forwards(apps, schema_editor):
    sql = {"postgresql": PG_UP, "sqlite": SQLITE_UP}.get(schema_editor.connection.vendor)
    if sql:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def backwards(apps, schema_editor):
    sql = {"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN}.get(schema_editor.connection.vendor)
    if sql:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("projects", "0004_datasets_models_baselines")]

    operations = [migrations.RunPython(forwards, backwards)]
