"""``manage.py backfill``: scan a historical block range for arbitrage transactions (and opportunities).

The command only dispatches: each kind's processor comes from the app that
registered it (``opportunities.backfill``, ``transactions.backfill`` through
``scanning.registry``).

    python manage.py backfill --chain 56 --from-block N --to-block M [--kind transactions|opportunities|all]

Bounded batches (``--batch-blocks``, default BACKFILL_BATCH_BLOCKS): each is
fetched with a constant number of RPC calls and committed in one database
transaction through ``scanning.loop.scan_range`` (the live cursor and reorg
journal are not touched).

Resumable: correctness comes from idempotent writes (unique (chain, tx_hash)
and (pool, block)); speed comes from a checkpoint per (chain, kind, range) in
Redis, written after each batch commits, so a second run starts after the last
committed batch (``--restart`` ignores it). A checkpoint lost with Redis only
costs re-reading logs: stored transactions are skipped before any receipt is
fetched. Safe while the live scanner runs: both write through the same
idempotent services, so nothing is stored twice.

A batch that fails on RPC (a flaky node outlasting one request's retries) is
run again, up to BACKFILL_BATCH_RETRIES times with backoff, before the command
gives up; the next run resumes at that batch.

Ctrl-C / SIGTERM: the batch in flight finishes and commits, then the command
exits cleanly (a second signal aborts at once; the batch's transaction rolls
back), so only whole batches are ever committed.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from chains.clients import chain_client
from chains.config import ChainConfig
from evm.rpc import ChainClient, RpcError
from scanning.loop import BlockProcessor, chain_config_get, redis_client, scan_range
from scanning.registry import scan_kinds

KINDS = ("transactions", "opportunities", "all")
STALE_HEAD_RETRIES = 3


@dataclass
class BackfillPlan:
    chain_id: int
    from_block: int
    to_block: int
    kinds: list[str]
    batch_blocks: int
    start_block: int  # after the checkpoint

    @property
    def blocks(self) -> int:
        return self.to_block - self.start_block + 1


def checkpoint_key(chain_id: int, kind: str, from_block: int, to_block: int) -> str:
    return f"arbmonitor:backfill:{chain_id}:{kind}:{from_block}-{to_block}"


class Command(BaseCommand):
    help = (
        "Backfill arbitrage transactions and/or opportunities of a chain over a block range: "
        "bounded batches, progress with blocks/s and ETA, resumable, safe on Ctrl-C and next to the live scanner."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", type=int, required=True, help="Chain id in the registry, e.g. 56 or 137.")
        parser.add_argument("--from-block", type=int, required=True, help="First block (inclusive).")
        parser.add_argument("--to-block", type=int, required=True, help="Last block (inclusive); at most the head.")
        parser.add_argument(
            "--kind", choices=KINDS, default="transactions", help="What to backfill (default: transactions)."
        )
        parser.add_argument(
            "--batch-blocks",
            type=int,
            default=None,
            help="Blocks per committed batch (default: BACKFILL_BATCH_BLOCKS).",
        )
        parser.add_argument("--restart", action="store_true", help="Ignore the checkpoint of this exact range.")
        parser.add_argument(
            "--skip-tips",
            action="store_true",
            help=(
                "Do not measure builder tips (coinbase_transfer_wei stays empty): saves one eth_getBlockReceipts "
                "per arbitrage block, about 3x faster on a local node. Default: TX_MEASURE_COINBASE."
            ),
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (logs and cron).")

    # ------------------------------------------------------------------ setup
    def handle(self, *args: Any, **options: Any) -> None:
        self.stop_requested = False
        self.measure_coinbase = False if options.get("skip_tips") else None
        config, client = self.chain_access(options["chain"])
        plan = self.plan(config, client, options)
        processors = self.processors(config, client, plan.kinds)
        if plan.start_block > plan.to_block:
            self.stdout.write(f"chain {plan.chain_id}: blocks {plan.from_block}-{plan.to_block} already backfilled")
            return
        if plan.start_block > plan.from_block:
            self.stdout.write(f"resuming after the checkpoint: block {plan.start_block}")
        previous = self.install_signal_handlers()
        try:
            done = self.run(plan, processors, client, progress=not options["no_progress"])
        finally:
            self.restore_signal_handlers(previous)
        if self.stop_requested:
            self.stdout.write(
                self.style.WARNING(
                    f"stopped: blocks {plan.start_block}-{done} committed; run the same command again to resume"
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"chain {plan.chain_id}: blocks {plan.from_block}-{done} backfilled"))

    def chain_access(self, chain_id: int) -> tuple[ChainConfig, ChainClient]:
        try:
            config = chain_config_get(chain_id)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        return config, chain_client(config)

    def plan(self, config: ChainConfig, client: ChainClient, options: dict[str, Any]) -> BackfillPlan:
        from_block, to_block = options["from_block"], options["to_block"]
        if from_block < 0 or to_block < 0:
            raise CommandError("block numbers must be >= 0")
        if to_block < from_block:
            raise CommandError(f"--to-block {to_block} is before --from-block {from_block}")
        try:
            head = client.block_number()
            # A node behind a load balancer can answer a stale head now and then: ask again before refusing.
            for _ in range(STALE_HEAD_RETRIES):
                if to_block <= head:
                    break
                head = max(head, client.block_number())
        except RpcError as exc:
            raise CommandError(f"chain {config.chain_id}: cannot reach the node: {exc}") from None
        if to_block > head:
            raise CommandError(f"--to-block {to_block} is beyond the chain head ({head})")
        batch_blocks = options["batch_blocks"] or int(settings.BACKFILL_BATCH_BLOCKS)
        if batch_blocks < 1:
            raise CommandError("--batch-blocks must be >= 1")
        kinds = [k.backfill_name for k in scan_kinds()] if options["kind"] == "all" else [options["kind"]]
        start = from_block
        if options["restart"]:
            for kind in kinds:
                redis_client().delete(checkpoint_key(config.chain_id, kind, from_block, to_block))
        else:
            start = min(self.checkpoint_get(config.chain_id, kind, from_block, to_block) for kind in kinds)
        return BackfillPlan(config.chain_id, from_block, to_block, kinds, batch_blocks, start)

    def processors(self, config: ChainConfig, client: ChainClient, kinds: list[str]) -> dict[str, BlockProcessor]:
        """Each kind's processor, built by the app that registered it (``scanning.registry``), in its order."""
        options = {"measure_coinbase": getattr(self, "measure_coinbase", None)}
        return {
            k.backfill_name: k.backfill_processor(config, client, options)
            for k in scan_kinds()
            if k.backfill_name in kinds
        }

    # ------------------------------------------------------------------ checkpoint
    def checkpoint_get(self, chain_id: int, kind: str, from_block: int, to_block: int) -> int:
        """First block not yet committed for this exact range and kind."""
        value = redis_client().get(checkpoint_key(chain_id, kind, from_block, to_block))
        return from_block if value is None else max(int(value) + 1, from_block)

    def checkpoint_set(self, plan: BackfillPlan, kind: str, block: int) -> None:
        redis_client().set(checkpoint_key(plan.chain_id, kind, plan.from_block, plan.to_block), block)

    # ------------------------------------------------------------------ the loop
    def run(
        self, plan: BackfillPlan, processors: dict[str, BlockProcessor], client: ChainClient, *, progress: bool = True
    ) -> int:
        """Batch after batch until done or asked to stop; returns the last committed block."""
        done = plan.start_block - 1
        started = time.monotonic()
        bar = tqdm(
            total=plan.blocks,
            unit="block",
            unit_scale=False,
            dynamic_ncols=True,
            file=self.stderr,
            disable=not progress,
        )
        try:
            for start in range(plan.start_block, plan.to_block + 1, plan.batch_blocks):
                if self.stop_requested:
                    break
                end = min(start + plan.batch_blocks - 1, plan.to_block)
                self.run_batch(plan, processors, client, start, end)
                done = end
                bar.update(end - start + 1)
        finally:
            bar.close()
        elapsed = max(time.monotonic() - started, 1e-9)
        blocks = done - plan.start_block + 1
        self.stdout.write(f"{blocks} blocks in {elapsed:.1f}s ({blocks / elapsed:.0f} blocks/s)")
        return done

    def run_batch(
        self, plan: BackfillPlan, processors: dict[str, BlockProcessor], client: ChainClient, start: int, end: int
    ) -> None:
        """One bounded batch per kind, each committed in its own transaction, then the checkpoint."""
        for kind, processor in processors.items():
            batch = functools.partial(
                scan_range, plan.chain_id, processor, from_block=start, to_block=end, chunk_blocks=end - start + 1,
                client=client,
            )  # fmt: skip
            self.with_retries(f"{kind} {start}-{end}", batch)
            self.checkpoint_set(plan, kind, end)

    def with_retries(self, what: str, run: Callable[[], object]) -> None:
        """Run one kind's batch; on an RPC failure (a flaky node outlasting one request's retries) run it again,
        up to BACKFILL_BATCH_RETRIES times with exponential backoff. Safe: a batch commits whole or not at all,
        and its writes are idempotent."""
        retries = int(settings.BACKFILL_BATCH_RETRIES)
        for attempt in range(retries + 1):
            try:
                run()
                return
            except RpcError as exc:
                if attempt == retries or self.stop_requested:
                    raise
                delay = min(
                    float(settings.RPC_BACKOFF_BASE_SECONDS) * 2**attempt, float(settings.RPC_BACKOFF_MAX_SECONDS)
                )
                self.stderr.write(f"batch {what} failed ({exc}); retry {attempt + 1}/{retries} in {delay:.2f}s")
                time.sleep(delay)

    # ------------------------------------------------------------------ signals
    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:  # second signal: abort now; the open batch rolls back
            raise KeyboardInterrupt
        self.stop_requested = True
        self.stderr.write(f"\n{signal.Signals(signum).name}: finishing the current batch, then stopping")

    def install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Only the main thread may set handlers (a test calling run() from a thread gets none).
            with contextlib.suppress(ValueError):
                previous[signum] = signal.signal(signum, self.request_stop)
        return previous

    def restore_signal_handlers(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
