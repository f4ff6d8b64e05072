"""Aggregates of the stored detections, kept in step with the rows by the write path's signals.

Every table is bucketed by chain and time: ``span`` is ``"h"`` (an hour) or ``"d"`` (a UTC day),
``start`` the bucket's first instant. Transactions are bucketed by their block's timestamp,
opportunities by ``detected_at``. The receivers in ``api.receivers`` add each new row once (inside
its write transaction) and subtract it again when a reorg removes it; ``manage.py
aggregates_rebuild`` recomputes them from the rows.
"""

from __future__ import annotations

from django.db import models


def usd_field() -> models.DecimalField:
    return models.DecimalField(max_digits=30, decimal_places=6, default=0)


def native_field(help_text: str = "") -> models.DecimalField:
    return models.DecimalField(max_digits=40, decimal_places=18, default=0, help_text=help_text)


class Span(models.TextChoices):
    HOUR = "h", "hour"
    DAY = "d", "day"


class ChainBucket(models.Model):
    """Per chain and hour/day: what stats/ returns."""

    chain_id = models.PositiveBigIntegerField()
    span = models.CharField(max_length=1, choices=Span.choices)
    start = models.DateTimeField()
    tx_count = models.BigIntegerField(default=0)
    gross_usd = usd_field()
    gas_usd = usd_field()
    net_usd = usd_field()
    builder_native = native_field("Native paid to block producers (coinbase transfers).")
    builder_measured = models.BigIntegerField(default=0, help_text="Transactions whose builder payment is known.")
    opp_count = models.BigIntegerField(default=0)
    opp_captured = models.BigIntegerField(default=0, help_text="Recounted from the rows (captures are updates).")
    opp_profit_usd = usd_field()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "span", "start"], name="api_chainbucket_key")]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.span}/{self.start:%Y-%m-%d %H:00}"


class BotBucket(models.Model):
    """Per chain, hour/day and sending address (the bot's EOA): the bot leaderboard."""

    chain_id = models.PositiveBigIntegerField()
    span = models.CharField(max_length=1, choices=Span.choices)
    start = models.DateTimeField()
    sender = models.CharField(max_length=42)
    tx_count = models.BigIntegerField(default=0)
    gross_usd = usd_field()
    gas_usd = usd_field()
    net_usd = usd_field()
    builder_native = native_field()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "span", "start", "sender"], name="api_botbucket_key")
        ]
        indexes = [
            models.Index(fields=["sender", "span", "start"], name="api_botbucket_sender"),
            models.Index(fields=["span", "start"], name="api_botbucket_time"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.span}/{self.start:%Y-%m-%d %H:00} {self.sender}"


class ContractBucket(models.Model):
    """Per chain, hour/day and called contract (the transactions' ``to``): the contract leaderboard.

    One searcher often sends from several EOAs into one contract, so its bot is best ranked by the
    contract; transactions stored without a contract (before flows recorded it) are not counted here.
    """

    chain_id = models.PositiveBigIntegerField()
    span = models.CharField(max_length=1, choices=Span.choices)
    start = models.DateTimeField()
    contract = models.CharField(max_length=42)
    tx_count = models.BigIntegerField(default=0)
    gross_usd = usd_field()
    gas_usd = usd_field()
    net_usd = usd_field()
    builder_native = native_field()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "span", "start", "contract"], name="api_contractbucket_key")
        ]
        indexes = [
            models.Index(fields=["contract", "span", "start"], name="api_contractbucket_contract"),
            models.Index(fields=["span", "start"], name="api_contractbucket_time"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.span}/{self.start:%Y-%m-%d %H:00} {self.contract}"


class PoolBucket(models.Model):
    """Per chain, hour/day and pool: arbitrage transactions through it and opportunities on it."""

    chain_id = models.PositiveBigIntegerField()
    span = models.CharField(max_length=1, choices=Span.choices)
    start = models.DateTimeField()
    pool = models.CharField(max_length=42)
    tx_count = models.BigIntegerField(default=0)
    tx_gross_usd = usd_field()
    opp_count = models.BigIntegerField(default=0)
    opp_profit_usd = usd_field()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "span", "start", "pool"], name="api_poolbucket_key")]
        indexes = [
            models.Index(fields=["pool", "span", "start"], name="api_poolbucket_pool"),
            models.Index(fields=["span", "start"], name="api_poolbucket_time"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.span}/{self.start:%Y-%m-%d %H:00} {self.pool}"


class TokenBucket(models.Model):
    """Per chain, hour/day and token: arbitrage transactions whose cycles went through it."""

    chain_id = models.PositiveBigIntegerField()
    span = models.CharField(max_length=1, choices=Span.choices)
    start = models.DateTimeField()
    token = models.CharField(max_length=42)
    tx_count = models.BigIntegerField(default=0)
    tx_gross_usd = usd_field()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "span", "start", "token"], name="api_tokenbucket_key")
        ]
        indexes = [
            models.Index(fields=["token", "span", "start"], name="api_tokenbucket_token"),
            models.Index(fields=["span", "start"], name="api_tokenbucket_time"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.span}/{self.start:%Y-%m-%d %H:00} {self.token}"


class WindowTotal(models.Model):
    """Running totals over a rolling leaderboard window (1d of hours, 7d/30d of days), per board and key.

    Kept by the same receivers as the buckets (a delta lands here when its bucket is inside the
    window) and rolled forward by subtracting the buckets that left it (``api.windows``), so a
    30-day leaderboard is an ORDER BY … LIMIT on an index, not a GROUP BY over 30 days of buckets.
    """

    period = models.CharField(max_length=4)
    board = models.CharField(max_length=8)  # "bot" (sender), "contract", "pool", "token"
    chain_id = models.PositiveBigIntegerField()
    key = models.CharField(max_length=42)
    tx_count = models.BigIntegerField(default=0)
    gross_usd = usd_field()
    gas_usd = usd_field()
    net_usd = usd_field()
    builder_native = native_field()
    opp_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "board", "chain_id", "key"], name="api_windowtotal_key")
        ]
        indexes = [
            models.Index(fields=["period", "board", "-net_usd"], name="api_window_net"),
            models.Index(fields=["period", "board", "chain_id", "-net_usd"], name="api_window_chain_net"),
            models.Index(fields=["period", "board", "-tx_count", "-gross_usd"], name="api_window_tx"),
            models.Index(fields=["period", "board", "chain_id", "-tx_count", "-gross_usd"], name="api_window_chain_tx"),
        ]

    def __str__(self) -> str:
        return f"{self.period}/{self.board}/{self.chain_id}/{self.key}"


class WindowState(models.Model):
    """Where each rolling window starts now (the first bucket it holds)."""

    period = models.CharField(max_length=4, primary_key=True)
    start = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.period} from {self.start:%Y-%m-%d %H:00}"


class TransactionPool(models.Model):
    """One row per arbitrage transaction and pool it swapped through: the ``?pool=`` lists' own index.

    A pool's transactions, newest first, are a range of this table's primary key (pool, detected_at,
    transaction) read backwards, joined to the transactions by id: a page costs its own rows, however
    many transactions the pool has. ``detected_at`` is the transaction's (it never changes), copied so
    the order and the cursor come from this index. Kept by the write path's receivers (``api.links``:
    added in the write transaction, deleted in the reorg's); ``aggregates_rebuild`` recomputes it.
    """

    pk = models.CompositePrimaryKey("pool", "detected_at", "transaction")
    pool = models.CharField(max_length=42)
    detected_at = models.DateTimeField()
    # No database constraint (bulk rebuilds skip 20M+ key checks); the ORM cascades and the reorg receiver
    # deletes the links before the rows, both through the foreign key's own index.
    transaction = models.ForeignKey(
        "transactions.ArbitrageTransaction", on_delete=models.CASCADE, db_constraint=False, related_name="pool_links"
    )
    # Copies of the transaction's (never changing) net profit and swap count: ``?pool=`` with a profit or
    # swap filter tests them in a covering index (PostgreSQL, api 0006) and fetches only the rows it returns.
    profit_net_usd = models.DecimalField(max_digits=30, decimal_places=6)
    swap_count = models.PositiveSmallIntegerField()

    def __str__(self) -> str:
        return f"{self.pool} {self.transaction_id}"


class OpportunityToken(models.Model):
    """One row per opportunity and token of its pool (token0, token1): the ``?token=`` list's own index.

    Same shape and upkeep as ``TransactionPool``: a token's opportunities, newest first, are a range
    of the primary key (token, detected_at, opportunity), whether the token is in three pools or three
    thousand.
    """

    pk = models.CompositePrimaryKey("token", "detected_at", "opportunity")
    token = models.CharField(max_length=42)
    detected_at = models.DateTimeField()
    opportunity = models.ForeignKey(
        "opportunities.Opportunity", on_delete=models.CASCADE, db_constraint=False, related_name="token_links"
    )

    def __str__(self) -> str:
        return f"{self.token} {self.opportunity_id}"
