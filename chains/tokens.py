"""Token metadata from the chain: Multicall3 batches, tolerant of non-standard tokens.

* ``symbol()``/``name()`` returning ``bytes32`` (MKR-style) are read as text;
  missing ones leave the symbol blank.
* ``decimals()`` that reverts (or answers nonsense) is stored as NULL; the
  scanners skip such tokens (amounts cannot be priced without decimals).
* Fee-on-transfer: ``token_fee_on_transfer_probe`` simulates a transfer out of
  a pool holding the token (``eth_call`` with the pool's code replaced by a
  small probe through a state override; nothing is sent) and compares what
  arrived with what was sent. One eth_call per token, batched. Nodes without
  state overrides answer an error: the token is then left as the registry
  says (``fee_on_transfer`` in its registry entry). A token that only charges
  on sells to a pool, or only for some addresses, is not caught by the probe:
  flag it in the registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Q
from eth_utils import to_checksum_address

from chains.models import Token
from evm import abis
from evm.rpc import Call, ChainClient, RpcResponseError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenMetadata:
    address: str
    symbol: str
    name: str
    decimals: int | None


def token_metadata_fetch(
    *, client: ChainClient, addresses: Iterable[str], block: int | str | None = None
) -> dict[str, TokenMetadata]:
    """symbol/name/decimals of each token through Multicall3 (3 sub-calls per token, chunked)."""
    tokens = list(dict.fromkeys(to_checksum_address(a) for a in addresses))
    calls = [Call(t, selector) for t in tokens for selector in (abis.SYMBOL, abis.NAME, abis.DECIMALS)]
    results = client.multicall(calls, block=block)
    out: dict[str, TokenMetadata] = {}
    for i, token in enumerate(tokens):
        symbol, name, decimals = results[3 * i : 3 * i + 3]
        out[token] = TokenMetadata(
            address=token,
            symbol=(abis.decode_text(symbol.data) if symbol.ok else None) or "",
            name=(abis.decode_text(name.data) if name.ok else None) or "",
            decimals=abis.decode_decimals(decimals.data) if decimals.ok else None,
        )
    return out


def token_fee_on_transfer_probe(
    *, client: ChainClient, holders: Mapping[str, str], block: int | str | None = None
) -> dict[str, bool | None]:
    """token → True (less arrives than is sent), False (exact), None (could not tell).

    ``holders`` maps each token to an address holding some of it (one of its pools).
    """
    items = [(to_checksum_address(t), to_checksum_address(h)) for t, h in holders.items()]
    block_param = "latest" if block is None else (hex(block) if isinstance(block, int) else block)
    requests = [
        (
            "eth_call",
            [
                {"to": holder, "data": "0x" + abis.call_probe(token).hex()},
                block_param,
                {holder: {"code": abis.TRANSFER_PROBE_RUNTIME}},
            ],
        )
        for token, holder in items
    ]
    replies = client.batch(requests, return_errors=True)
    out: dict[str, bool | None] = {}
    for (token, _holder), reply in zip(items, replies, strict=True):
        if isinstance(reply, RpcResponseError) or not isinstance(reply, str):
            out[token] = None
            continue
        decoded = abis.decode_probe(bytes.fromhex(reply[2:]))
        if decoded is None or decoded[0] == 0:
            out[token] = None
        else:
            sent, received = decoded
            out[token] = received < sent
    return out


def token_ensure(*, chain_id: int, client: ChainClient, addresses: Iterable[str]) -> dict[str, Token]:
    """Token rows for the addresses, creating missing ones with on-chain metadata (read first); idempotent."""
    wanted = list(dict.fromkeys(to_checksum_address(a) for a in addresses))
    existing = {t.address: t for t in Token.objects.filter(chain_id=chain_id, address__in=wanted)}
    missing = [a for a in wanted if a not in existing]
    if missing:
        metadata = token_metadata_fetch(client=client, addresses=missing)
        Token.objects.bulk_create(
            [
                Token(chain_id=chain_id, address=a, symbol=metadata[a].symbol, decimals=metadata[a].decimals)
                for a in missing
            ],
            ignore_conflicts=True,
        )
        existing.update({t.address: t for t in Token.objects.filter(chain_id=chain_id, address__in=missing)})
        for a in missing:
            if metadata[a].decimals is None:
                logger.warning("chain %s: token %s has no usable decimals(); scanners skip it", chain_id, a)
    return existing


def token_metadata_refresh(
    *,
    chain_id: int,
    client: ChainClient,
    probe_fee_on_transfer: bool = True,
    tokens: Iterable[str] | None = None,
    holders: Mapping[str, str] | None = None,
) -> list[Token]:
    """Fill in symbol/decimals the registry did not give, and detect fee-on-transfer tokens.

    ``tokens`` limits it to those addresses (default: every token of the
    chain); ``holders`` (token → a pool holding it) overrides the probe's
    choice of pool, e.g. a pool created moments ago. Registry values are never
    overwritten; the ``fee_on_transfer`` flag is only ever raised here, never
    cleared (the registry may know better than the probe). Returns the rows changed.
    """
    query = Token.objects.filter(chain_id=chain_id)
    if tokens is not None:
        wanted = [to_checksum_address(a) for a in tokens]
        if not wanted:
            return []
        query = query.filter(address__in=wanted)
    rows = list(query)
    incomplete = [t for t in rows if not t.symbol or t.decimals is None]
    metadata = token_metadata_fetch(client=client, addresses=[t.address for t in incomplete]) if incomplete else {}
    fot: dict[str, bool | None] = {}
    if probe_fee_on_transfer:
        from chains.selectors import token_holder_pools

        unflagged = {t.address for t in rows if not t.fee_on_transfer}
        found = dict(token_holder_pools(chain_id=chain_id, tokens=unflagged)) if unflagged else {}
        found.update(
            {to_checksum_address(t): h for t, h in (holders or {}).items() if to_checksum_address(t) in unflagged}
        )
        if found:
            fot = token_fee_on_transfer_probe(client=client, holders=found)
    changed = []
    for token in rows:
        address = to_checksum_address(token.address)
        before = (token.symbol, token.decimals, token.fee_on_transfer)
        meta = metadata.get(address)
        if meta is not None:
            token.symbol = token.symbol or meta.symbol
            token.decimals = token.decimals if token.decimals is not None else meta.decimals
        if fot.get(address):
            logger.info("chain %s: token %s takes a fee on transfer; scanners skip it", chain_id, address)
            token.fee_on_transfer = True
        if (token.symbol, token.decimals, token.fee_on_transfer) != before:
            changed.append(token)
    Token.objects.bulk_update(changed, ["symbol", "decimals", "fee_on_transfer"])
    return changed


def token_metadata_complete(*, chain_id: int, client: ChainClient) -> list[Token]:
    """``token_metadata_refresh`` of the tokens still missing a symbol or decimals (arrived through
    pools, not the registry), with the fee-on-transfer probe; nothing to do costs one query."""
    incomplete = Token.objects.filter(chain_id=chain_id).filter(Q(symbol="") | Q(decimals__isnull=True))
    addresses = list(incomplete.values_list("address", flat=True))
    if not addresses:
        return []
    return token_metadata_refresh(chain_id=chain_id, client=client, tokens=addresses)
