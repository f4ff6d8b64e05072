"""``manage.py alerts_api_key NAME``: create a key for the alert-rule API and print it once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from alerts.api import api_key_create


class Command(BaseCommand):
    help = "Create an API key for /api/v1/alerts/ and print it (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what the key is for")

    def handle(self, *args: Any, **options: Any) -> None:
        row, key = api_key_create(name=options["name"])
        self.stdout.write(f"API key {row.name!r} (id {row.pk}):\n{key}\nKeep it now: it is not shown again.")
