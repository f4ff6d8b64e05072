"""Reads for the chains app."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from chains.models import Pool


def token_holder_pools(*, chain_id: int, tokens: Iterable[str]) -> dict[str, str]:
    """token → one pool holding it (the most recently updated), for transfer probes."""
    wanted = set(tokens)
    holders: dict[str, str] = {}
    rows = (
        Pool.objects.filter(chain_id=chain_id)
        .filter(Q(token0__address__in=wanted) | Q(token1__address__in=wanted))
        .order_by("-last_block")
        .values_list("address", "token0__address", "token1__address")
    )
    for pool, token0, token1 in rows:
        for token in (token0, token1):
            if token in wanted:
                holders.setdefault(token, pool)
    return holders
