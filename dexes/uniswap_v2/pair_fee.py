"""Per-pair swap fees of V2 forks that have them (Biswap's ``swapFee()``). Pure: no Django, no I/O.

Biswap's pair stores its fee as ``uint32 swapFee`` in tenths of a percent
(1 = 0.1 %, its default) and its swap check is ``balance * 1000 - amountIn *
swapFee``. The factory's fee setter changes it with ``factory.setSwapFee(pair,
fee)``, which calls ``pair.setSwapFee(fee)``; neither emits an event, so a
change can only be seen by reading the getter again (``chains.fees``).

Priced on the 10,000 scale (``swap_math``), a fee of ``n`` tenths of a percent
is ``10 n`` bps and gives the contract's own rounding: ``a·(1000 − n)·R /
(r·1000 + a·(1000 − n))`` and ``a·(10000 − 10n)·R / (r·10000 + a·(10000 − 10n))``
are the same fraction.
"""

from __future__ import annotations

from evm.abis import selector

SWAP_FEE = selector("swapFee()")
SWAP_FEE_UNIT_BPS = 10  # one unit of Biswap's swapFee() in basis points
FEE_DENOMINATOR_BPS = 10_000


def swap_fee_bps_decode(ok: bool, data: bytes) -> int | None:
    """A pair's ``swapFee()`` answer in basis points; None when the call failed or the value cannot be a fee."""
    if not ok or len(data) < 32:
        return None
    value = int.from_bytes(data[:32], "big")
    fee_bps = value * SWAP_FEE_UNIT_BPS
    return fee_bps if fee_bps < FEE_DENOMINATOR_BPS else None
