"""The gas price an opportunity is priced at: what the block's transactions actually paid.

Per block: the base fee (``baseFeePerGas``; 0 before EIP-1559, where a legacy
``gasPrice`` is all tip) plus the block's ``GAS_PRIORITY_FEE_PERCENTILE``-th
effective priority fee (gas-weighted, as ``eth_feeHistory`` computes it:
``min(maxPriorityFeePerGas, maxFeePerGas − baseFee)``, or ``gasPrice −
baseFee`` for a legacy transaction). The default, the median, is robust to
BSC's zero-price system transactions and to one bot's outsized bid.

Floors, whichever is highest wins:

* the registry's ``min_priority_fee_wei`` (Polygon: validators reject tips
  under 25 gwei) and ``GAS_PRIORITY_FEE_WEI`` (an operator's own floor) on the tip;
* the registry's ``min_gas_price_wei`` on the whole price (BSC: base fee 0,
  validators' minimum gas price);
* a block whose figure is still 0 (an empty block on a chain with neither a
  base fee nor a floor) takes the last non-zero price the scanner saw.

Every price names its source (``GasPriceSource``, stored on the opportunity
row as ``gas_price_source``): the observed tip, a floor (the registry's, or
the operator's ``GAS_PRIORITY_FEE_WEI``), the base fee alone (tip unknown, no
floor above it) or the last price seen.

The tips of a whole batch come from one ``eth_feeHistory`` call (O(1) RPC per
batch, whatever the number of pools or transactions), only when a block of the
batch has a Sync to evaluate. A node without ``eth_feeHistory`` (or without
rewards for those blocks) leaves the observed tip unknown: the floors apply.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from evm.rpc import RpcResponseError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GasFloors:
    """The chain's and the operator's floors (wei)."""

    min_gas_price_wei: int = 0  # on base fee + tip (BSC)
    min_priority_fee_wei: int = 0  # on the tip (Polygon)
    configured_tip_wei: int = 0  # GAS_PRIORITY_FEE_WEI


class GasPriceSource(StrEnum):
    """Which figure set a block's gas price (the opportunity row's ``gas_price_source``)."""

    OBSERVED = "observed"  # base fee + the block's observed tip (eth_feeHistory), at or above every floor
    REGISTRY_FLOOR = "registry_floor"  # the registry's min_priority_fee_wei or min_gas_price_wei
    CONFIGURED_FLOOR = "configured_floor"  # the operator's GAS_PRIORITY_FEE_WEI
    BASE_FEE = "base_fee"  # tip unknown (no eth_feeHistory answer) and no floor: the base fee alone
    LAST_SEEN = "last_seen"  # everything came out 0: the last non-zero price the scanner evaluated


@dataclass(frozen=True, slots=True)
class GasPrice:
    wei: int
    source: GasPriceSource


def gas_price(*, base_fee_wei: int | None, observed_tip_wei: int | None, floors: GasFloors) -> GasPrice:
    """The gas price of one block (wei): base fee + observed tip, floored, and which figure set it. Pure.

    Ties go to the observed tip (it is a measurement), then to the registry's floor.
    """
    base = base_fee_wei or 0
    tips = [
        (observed_tip_wei, GasPriceSource.OBSERVED),
        (floors.min_priority_fee_wei, GasPriceSource.REGISTRY_FLOOR),
        (floors.configured_tip_wei, GasPriceSource.CONFIGURED_FLOOR),
    ]
    known = [
        (tip, source) for tip, source in tips if tip is not None and (tip > 0 or source is GasPriceSource.OBSERVED)
    ]
    tip, source = max(known, key=lambda t: t[0], default=(0, GasPriceSource.BASE_FEE))
    if base + tip < floors.min_gas_price_wei:
        return GasPrice(floors.min_gas_price_wei, GasPriceSource.REGISTRY_FLOOR)
    return GasPrice(base + tip, source)


def gas_price_wei(*, base_fee_wei: int | None, observed_tip_wei: int | None, floors: GasFloors) -> int:
    """The gas price of one block (wei): base fee + observed tip, floored. Pure."""
    return gas_price(base_fee_wei=base_fee_wei, observed_tip_wei=observed_tip_wei, floors=floors).wei


def fee_history_tips(reply: Any, *, newest_block: int, count: int) -> dict[int, int]:
    """block → its percentile tip from an ``eth_feeHistory`` reply (one percentile asked). Pure.

    Blocks the reply does not cover (a node that returns fewer blocks, an empty
    ``reward``) are left out. A block without transactions has tip 0 in geth's
    answer; it is kept as 0 (the floors then apply).
    """
    if not isinstance(reply, dict):
        return {}
    rewards = reply.get("reward")
    oldest = reply.get("oldestBlock")
    if not isinstance(rewards, list) or oldest is None:
        return {}
    first = int(oldest, 16) if isinstance(oldest, str) else int(oldest)
    tips: dict[int, int] = {}
    for offset, row in enumerate(rewards):
        number = first + offset
        if not isinstance(row, list) or not row or number > newest_block or number <= newest_block - count:
            continue
        value = row[0]
        tips[number] = int(value, 16) if isinstance(value, str) else int(value)
    return tips


def block_tips_fetch(*, client: Any, blocks: Sequence[int], percentile: float) -> dict[int, int]:
    """Each block's ``percentile``-th effective tip, from one ``eth_feeHistory`` over the blocks' range.

    Empty when the node has no ``eth_feeHistory`` or refuses the range: pricing falls back to the floors.
    """
    if not blocks:
        return {}
    newest, oldest = max(blocks), min(blocks)
    count = newest - oldest + 1
    try:
        reply = client.call("eth_feeHistory", [hex(count), hex(newest), [percentile]])
    except RpcResponseError as exc:
        logger.warning("chain %s: eth_feeHistory %d..%d refused (%s); gas at the floors", client.chain_id, oldest,
                       newest, exc)  # fmt: skip
        return {}
    return fee_history_tips(reply, newest_block=newest, count=count)
