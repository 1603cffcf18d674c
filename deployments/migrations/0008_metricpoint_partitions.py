"""Metric points partitioned by calendar month (UTC) on PostgreSQL; nothing changes elsewhere.

The table is rebuilt as ``PARTITION BY RANGE (timestamp)`` with the same columns, identity
(its sequence carries on where the old one stood), foreign keys and window index, plus a
BRIN index on the time and a DEFAULT partition, so a point in a month without a partition
of its own is stored, never refused. PostgreSQL requires the partition key in every unique
constraint: the primary key becomes ``(id, timestamp)``. Ids still come from the one
identity sequence, so they stay unique, and Django keeps ``id`` as the model's key.

Existing rows are copied into one partition per month that has any, plus this month and
the next three (``deployments.services.partitions`` keeps creating them ahead). The copy
holds the table's lock for its whole length: on a large table, run it in a maintenance
window. Reversing rebuilds the plain table the same way, rows included.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import migrations

TABLE = "deployments_metricpoint"
BUILDING = "deployments_metricpoint_building"
MONTHS_AHEAD = 3


def _month(year: int, month: int) -> datetime:
    index = year * 12 + month - 1
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _rebuild(schema_editor, *, partitioned: bool) -> None:
    q = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {q(TABLE)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        (sequence,) = cursor.fetchone()
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
        last_value, is_called = cursor.fetchone()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [TABLE],
        )
        foreign_keys = cursor.fetchall()
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [TABLE],
        )
        columns = ", ".join(q(name) for (name,) in cursor.fetchall())

        split = " PARTITION BY RANGE (timestamp)" if partitioned else ""
        cursor.execute(
            f"CREATE TABLE {q(BUILDING)} "
            f"(LIKE {q(TABLE)} INCLUDING DEFAULTS INCLUDING IDENTITY){split}"
        )
        if partitioned:
            cursor.execute(
                f"CREATE TABLE {q(TABLE + '_default')} PARTITION OF {q(BUILDING)} DEFAULT"
            )
            cursor.execute(f"SELECT DISTINCT date_trunc('month', timestamp, 'UTC') FROM {q(TABLE)}")
            months = {row[0].astimezone(UTC) for row in cursor.fetchall()}
            now = datetime.now(UTC)
            months |= {_month(now.year, now.month + n) for n in range(MONTHS_AHEAD + 1)}
            for start in sorted(months):
                end = _month(start.year, start.month + 1)
                name = f"{TABLE}_p{start.year:04d}_{start.month:02d}"
                cursor.execute(
                    f"CREATE TABLE {q(name)} PARTITION OF {q(BUILDING)} "
                    "FOR VALUES FROM (%s) TO (%s)",
                    [start, end],
                )
        cursor.execute(
            f"INSERT INTO {q(BUILDING)} ({columns}) OVERRIDING SYSTEM VALUE "
            f"SELECT {columns} FROM {q(TABLE)}"
        )
        cursor.execute(f"DROP TABLE {q(TABLE)}")
        cursor.execute(f"ALTER TABLE {q(BUILDING)} RENAME TO {q(TABLE)}")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        (built,) = cursor.fetchone()
        cursor.execute(f"ALTER SEQUENCE {built} RENAME TO {sequence.split('.')[-1]}")
        cursor.execute("SELECT setval(%s, %s, %s)", [sequence, last_value, is_called])

        key = "id, timestamp" if partitioned else "id"
        cursor.execute(
            f"ALTER TABLE {q(TABLE)} ADD CONSTRAINT {q(TABLE + '_pkey')} PRIMARY KEY ({key})"
        )
        cursor.execute(f"CREATE INDEX metric_window ON {q(TABLE)} (deployment_id, name, timestamp)")
        if partitioned:
            # Points arrive roughly in time order, so each block range holds a narrow span of
            # time: a BRIN index of a few pages finds a time window in a month of points.
            cursor.execute(f"CREATE INDEX metric_time_brin ON {q(TABLE)} USING brin (timestamp)")
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {q(TABLE)} ADD CONSTRAINT {q(name)} {definition}")


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, partitioned=True)


def unpartition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0007_labels_reviews"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
