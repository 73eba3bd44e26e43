"""The admin placeholder model (no table: ``managed = False``)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="TaskQueue",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "task queue",
                "verbose_name_plural": "task queue",
                "db_table": "taskito_admin_placeholder",
                "managed": False,
                "default_permissions": ("view", "change"),
            },
        ),
    ]
