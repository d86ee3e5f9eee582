"""Load Linfen's 17 county-level divisions; mark the five national key poverty-relief counties.

The file is copied into the project (sessions_app/data/) so nothing outside it is read.
Reversal removes exactly these slugs.
"""

import csv
from pathlib import Path

from django.db import migrations

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "linfen_divisions.csv"


def read_divisions() -> list[dict]:
    with DATA_FILE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def load(apps, schema_editor):
    County = apps.get_model("sessions_app", "County")
    for row in read_divisions():
        County.objects.update_or_create(
            slug=row["slug"],
            defaults={
                "name": row["name"],
                "name_zh": row["name_zh"],
                "kind": row["kind"],
                "poverty_relief_key": row["poverty_relief"] == "national",
            },
        )


def unload(apps, schema_editor):
    County = apps.get_model("sessions_app", "County")
    County.objects.filter(slug__in=[row["slug"] for row in read_divisions()]).delete()


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
