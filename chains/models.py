"""What ArbMonitor knows about each chain: its tokens, DEXes, pools and scan cursors."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from dexes.families import FAMILY_CHOICES, UNISWAP_V2


class RawAmountField(models.Field):
    """A raw token amount or reserve (uint256 scale, signed for profits), exact, as a Python ``int``.

    PostgreSQL stores it as NUMERIC(78,0). SQLite has no exact type for integers
    beyond 64 bits (its NUMERIC affinity turns them into REAL and drops digits), so
    there the value is stored as TEXT: exact, but SQL comparisons and ORDER BY on
    these columns are textual on SQLite. Nothing in ArbMonitor orders by them.
    """

    description = "Exact integer token amount (uint256 scale)"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        if connection.vendor == "sqlite":
            return "text"
        return "numeric(78,0)"

    def from_db_value(self, value: object, expression: object, connection: BaseDatabaseWrapper) -> int | None:
        return None if value is None else int(value)  # type: ignore[call-overload]

    def to_python(self, value: object) -> int | None:
        if value is None or isinstance(value, int):
            return value
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValidationError(f"{value!r} is not an integer amount") from None
        if number != number.to_integral_value():
            raise ValidationError(f"{value!r} is not an integer amount")
        return int(number)

    def get_prep_value(self, value: object) -> int | None:
        return self.to_python(super().get_prep_value(value))

    def get_db_prep_value(self, value: object, connection: BaseDatabaseWrapper, prepared: bool = False) -> object:
        number = self.to_python(value) if prepared else self.get_prep_value(value)
        if number is None:
            return None
        return str(number) if connection.vendor == "sqlite" else Decimal(number)


class Chain(models.Model):
    chain_id = models.PositiveBigIntegerField(primary_key=True)
    name = models.CharField(max_length=64)
    native_symbol = models.CharField(max_length=16)
    block_time = models.FloatField(help_text="Seconds between blocks; the scan interval.")
    explorer_url = models.URLField(blank=True, help_text="Block explorer base, e.g. https://bscscan.com")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["chain_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.chain_id})"

    def explorer_link(self, kind: str, value: str) -> str | None:
        """URL of an address ("address"), transaction ("tx") or block ("block") page."""
        if not self.explorer_url:
            return None
        return f"{self.explorer_url.rstrip('/')}/{kind}/{value}"


class Token(models.Model):
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="tokens")
    address = models.CharField(max_length=42)
    symbol = models.CharField(max_length=64, blank=True)
    decimals = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Null when decimals() reverts.")
    fee_on_transfer = models.BooleanField(default=False, help_text="Skipped by the opportunity scanner.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "address"], name="token_unique_chain_address")]
        indexes = [models.Index(fields=["chain", "symbol"], name="token_chain_symbol")]
        ordering = ["chain_id", "symbol"]

    def __str__(self) -> str:
        return self.symbol or self.address


class Dex(models.Model):
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="dexes")
    name = models.CharField(max_length=64)
    factory_address = models.CharField(max_length=42)
    fee_bps = models.PositiveSmallIntegerField(
        help_text="Swap fee in basis points (25 = 0.25%); 0 for concentrated-liquidity DEXes (fee per pool)."
    )
    fee_per_pair = models.BooleanField(
        default=False, help_text="Each pair charges its own fee (Biswap's swapFee()); fee_bps is the default."
    )
    family = models.CharField(
        max_length=16, choices=FAMILY_CHOICES, default=UNISWAP_V2, help_text="Protocol family: each hop's venue."
    )

    class Meta:
        verbose_name = "DEX"
        verbose_name_plural = "DEXes"
        constraints = [
            models.UniqueConstraint(fields=["chain", "factory_address"], name="dex_unique_chain_factory"),
            models.UniqueConstraint(fields=["chain", "name"], name="dex_unique_chain_name"),
        ]
        ordering = ["chain_id", "name"]

    def __str__(self) -> str:
        return self.name


class Pool(models.Model):
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="pools")
    dex = models.ForeignKey(
        Dex, on_delete=models.SET_NULL, null=True, blank=True, related_name="pools", help_text="Null: unknown DEX."
    )
    address = models.CharField(max_length=42)
    token0 = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="+")
    token1 = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="+")
    reserve0 = RawAmountField(default=0)
    reserve1 = RawAmountField(default=0)
    last_block = models.PositiveBigIntegerField(null=True, blank=True, help_text="Block of the last reserve update.")
    fee_bps = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The pair's own swap fee read from the chain (DEXes with per-pair fees); null: the DEX's fee.",
    )
    fee_read_block = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Block at which fee_bps was last read from the pair (null: never)."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "address"], name="pool_unique_chain_address")]
        indexes = [models.Index(fields=["chain", "dex"], name="pool_chain_dex")]
        ordering = ["chain_id", "address"]

    def __str__(self) -> str:
        return self.name

    @property
    def swap_fee_bps(self) -> int | None:
        """What a swap through this pool is charged: its own fee when read, else its DEX's (None: unknown DEX)."""
        if self.fee_bps is not None:
            return self.fee_bps
        return self.dex.fee_bps if self.dex else None

    @property
    def name(self) -> str:
        """The spec's pool name, e.g. ``WBNB-BUSD`` (token0-token1)."""
        return f"{self.token0.symbol or self.token0.address[:8]}-{self.token1.symbol or self.token1.address[:8]}"


class ConcentratedPoolState(models.Model):
    """A concentrated-liquidity pool's swap state (Uniswap V3, PancakeSwap V3, Algebra) as of ``block_number``.

    Written by the pool scanner in the same transaction as its cursor, so it always sits at
    the cursor; ``ticks`` holds every initialized tick the scanner knows (loaded around the
    price with Multicall3 on discovery, then kept from Mint/Burn events).
    """

    pool = models.OneToOneField(Pool, on_delete=models.CASCADE, primary_key=True, related_name="cl_state")
    sqrt_price_x96 = RawAmountField(default=0)
    tick = models.IntegerField(default=0)
    liquidity = RawAmountField(default=0, help_text="In-range liquidity.")
    fee = models.PositiveIntegerField(help_text="Swap fee in millionths (500 = 0.05%); Algebra's is dynamic.")
    tick_spacing = models.IntegerField()
    ticks = models.JSONField(
        default=dict, help_text='Initialized ticks: {"tick": ["liquidityGross", "liquidityNet"]}, decimal strings.'
    )
    has_limit_orders = models.BooleanField(default=False, help_text="Algebra V1.9 limit orders: not simulated.")
    # Null: every initialized tick is known (state built from the pool's creation on). Else the tick range the
    # Multicall3 load covered: a swap is simulated only while its price stays inside it.
    known_tick_lower = models.IntegerField(null=True, blank=True)
    known_tick_upper = models.IntegerField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True, help_text="State as of this block.")

    class Meta:
        verbose_name = "concentrated-liquidity pool state"

    def __str__(self) -> str:
        return f"{self.pool_id} tick {self.tick} @ {self.block_number}"


class ScanCursor(models.Model):
    """The last block a scanner finished, with its hash so a reorg can be seen."""

    class Kind(models.TextChoices):
        POOLS = "pools", "Pools and opportunities"
        TRANSACTIONS = "transactions", "Arbitrage transactions"

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="cursors")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    head_block_number = models.PositiveBigIntegerField(null=True, blank=True, help_text="Chain head at the last run.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "kind"], name="cursor_unique_chain_kind")]
        ordering = ["chain_id", "kind"]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.kind} @ {self.block_number}"

    @property
    def lag(self) -> int | None:
        """Blocks behind the head as of the last run."""
        if self.head_block_number is None:
            return None
        return max(self.head_block_number - self.block_number, 0)


class ScannedBlock(models.Model):
    """Recent block hashes per scanner, to find the common ancestor after a reorg."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=ScanCursor.Kind.choices)
    number = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=66)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "kind", "number"], name="scannedblock_unique_chain_kind_number")
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}/{self.kind} #{self.number} {self.hash}"
