"""`python manage.py preflight`: is this process ready to scan? One line per problem, exit 1."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chains.preflight import preflight


class Command(BaseCommand):
    help = (
        "Check the database (migrated), Redis (answers), the chain registry (parses) and every enabled "
        "chain's RPC (answers with the configured chain id). Prints one line per problem and exits 1; "
        "workers, beat and the head watcher run it before they start."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-rpc", action="store_true", help="Do not contact the RPC endpoints.")
        parser.add_argument("--no-chains", action="store_true", help="Skip the registry (e.g. for a web process).")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = preflight(chains=not options["no_chains"], rpc=not options["no_rpc"])
        if problems:
            raise CommandError("; ".join(str(p) for p in problems), returncode=1)
        self.stdout.write("preflight: ready")
