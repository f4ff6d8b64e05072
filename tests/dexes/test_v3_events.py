"""Event topics (computed with keccak) against the published topic0 values, and log shapes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dexes.algebra import events as algebra
from dexes.pancakeswap_v3 import events as pancake
from dexes.uniswap_v3 import events as uniswap
from dexes.uniswap_v3.events import EventDecodeError


def test_topics_equal_the_published_values() -> None:
    # Full values from BscScan/Polygonscan (docs/chain-facts.md in the shared folder).
    assert uniswap.SWAP_TOPIC == "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
    assert pancake.SWAP_TOPIC == "0x19b47279256b2a23a1665c810c8d55a1758940ee09377d4f8d26497a3577dc83"
    assert algebra.SWAP_TOPIC == uniswap.SWAP_TOPIC  # same signature in Algebra
    assert uniswap.MINT_TOPIC.startswith("0x7a53080b")
    assert uniswap.BURN_TOPIC.startswith("0x0c396cd9")
    assert uniswap.POOL_CREATED_TOPIC.startswith("0x783cca1c")
    assert algebra.POOL_TOPIC.startswith("0x91ccaa7a")
    assert uniswap.INITIALIZE_TOPIC.startswith("0x98636036")


def _word(value: int) -> str:
    return (value % (1 << 256)).to_bytes(32, "big").hex()


@dataclass
class LogObject:
    address: str
    topics: list[bytes]
    data: bytes


def test_swap_decodes_from_a_json_rpc_dict_and_from_an_object() -> None:
    sender = "0x" + "00" * 12 + "11" * 20
    recipient = "0x" + "00" * 12 + "22" * 20
    data = "0x" + "".join(_word(v) for v in (-5, 7, 2**96, 10**18, -887))
    log = {"address": "0x" + "ab" * 20, "topics": [uniswap.SWAP_TOPIC, sender, recipient], "data": data}
    event = uniswap.decode_swap(log)
    assert (event.amount0, event.amount1, event.sqrt_price_x96, event.liquidity, event.tick) == (
        -5,
        7,
        2**96,
        10**18,
        -887,
    )
    as_object = LogObject(log["address"], [bytes.fromhex(t[2:]) for t in log["topics"]], bytes.fromhex(data[2:]))
    assert uniswap.decode_swap(as_object) == event
    assert uniswap.decode_pool_event(log) == event
    # The same bytes under PancakeSwap's topic are not a PancakeSwap Swap (it has 7 data words).
    assert pancake.decode_pool_event(log) is None
    with pytest.raises(EventDecodeError):
        pancake.decode_swap({**log, "topics": [pancake.SWAP_TOPIC, sender, recipient]})


def test_algebra_fee_and_mint_with_negative_ticks() -> None:
    fee = algebra.decode_fee({"address": "0x" + "cd" * 20, "topics": [algebra.FEE_TOPIC], "data": "0x" + _word(2800)})
    assert fee.fee == 2800
    mint = algebra.decode_mint(
        {
            "address": "0x" + "cd" * 20,
            "topics": [algebra.MINT_TOPIC, "0x" + _word(0x33), "0x" + _word(-120), "0x" + _word(60)],
            "data": "0x" + "".join(_word(v) for v in (0x44, 10**20, 5, 6)),
        }
    )
    assert (mint.tick_lower, mint.tick_upper, mint.amount, mint.amount0, mint.amount1) == (-120, 60, 10**20, 5, 6)
