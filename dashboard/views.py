"""Dashboard pages: server-rendered from the API's selectors; the live tables update over the WebSocket."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from api import selectors
from api.addresses import checksum, is_address
from chains.models import Chain, Pool, Token
from dashboard.charts import profit_chart
from opportunities.models import Opportunity
from opportunities.serializers import opportunity_data
from transactions.models import ArbitrageTransaction
from transactions.serializers import transaction_data

LIVE_ROWS = 50
PAGE_ROWS = 50


def _period(request: HttpRequest) -> str:
    period = request.GET.get("period", "1d")
    return period if period in selectors.PERIODS else "1d"


def _int(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) < 2**63 else None  # what the integer columns hold


def _float(request: HttpRequest, name: str) -> float | None:
    try:
        value = float(request.GET.get(name, ""))
    except ValueError:
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Live tables (filtered like a stream subscription), stats, charts and leaderboards."""
    period = _period(request)
    chain_id = _int(request, "chain_id")
    filters: dict[str, Any] = {
        "chain_id": chain_id,
        "min_profit": _float(request, "min_profit"),
        "max_profit": _float(request, "max_profit"),
        "min_swaps": _int(request, "min_swaps"),
    }
    opps = Opportunity.objects.all()
    txs = ArbitrageTransaction.objects.all()
    if chain_id is not None:
        opps, txs = opps.filter(chain_id=chain_id), txs.filter(chain_id=chain_id)
    if filters["min_profit"] is not None:
        opps = opps.filter(profit_usd__gte=filters["min_profit"])
        txs = txs.filter(profit_net_usd__gte=filters["min_profit"])
    if filters["max_profit"] is not None:
        opps = opps.filter(profit_usd__lte=filters["max_profit"])
        txs = txs.filter(profit_net_usd__lte=filters["max_profit"])
    if filters["min_swaps"] is not None:
        txs = txs.filter(swap_count__gte=filters["min_swaps"])
    chains = list(Chain.objects.all())
    stats = {s["chain_id"]: s for s in selectors.chain_stats(period=period)}
    charts = [
        {
            "chain": chain,
            "stats": stats.get(chain.chain_id),
            "chart": profit_chart(selectors.profit_series(chain_id=chain.chain_id, period=period)),
        }
        for chain in chains
        if chain_id in (None, chain.chain_id)
    ]
    context = {
        "period": period,
        "periods": list(selectors.PERIODS),
        "filters": {k: v for k, v in filters.items() if v is not None},
        "chains": chains,
        "charts": charts,
        "board": selectors.leaderboard(period=period, chain_id=chain_id, limit=10),
        "opportunities": [opportunity_data(o) for o in opps[:LIVE_ROWS]],
        "transactions": [transaction_data(t) for t in txs[:LIVE_ROWS]],
        "explorers": {c.chain_id: c.explorer_url.rstrip("/") for c in chains if c.explorer_url},
    }
    return render(request, "dashboard/home.html", context)


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """One match goes straight to its page; otherwise the results (or none) are listed."""
    q = request.GET.get("q", "").strip()[:100]
    result = selectors.search(q) if q else {"query": "", "kind": "none"}
    kind = result["kind"]
    found: dict[str, Any] = result
    if kind == "transaction" and len(found["transactions"]) == 1:
        return redirect("dashboard-transaction", pk=found["transactions"][0]["id"])
    if kind == "pool":
        return redirect("dashboard-pool", address=found["address"])
    if kind == "bot":
        return redirect("dashboard-bot", address=found["address"])
    return render(request, "dashboard/search.html", {"q": q, "result": result})


def _explorer(chain: Chain, kind: str, value: str) -> str | None:
    return chain.explorer_link(kind, value)


@require_GET
def transaction_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One arbitrage transaction: each cycle drawn hop by hop (token → pool/DEX → token)."""
    tx = get_object_or_404(ArbitrageTransaction.objects.select_related("chain").prefetch_related("cycles"), pk=pk)
    addresses = {a for c in tx.cycles.all() for a in (*c.pools, *c.tokens)} | set(tx.pools_involved)
    pools = {
        p.address: p
        for p in Pool.objects.filter(chain_id=tx.chain_id, address__in=addresses).select_related(
            "dex", "token0", "token1"
        )
    }
    tokens = {t.address: t for t in Token.objects.filter(chain_id=tx.chain_id, address__in=addresses)}
    cycles = []
    for cycle in tx.cycles.all():
        hops: list[dict[str, Any]] = []
        stored = list(cycle.hops) if len(cycle.hops) == len(cycle.pools) else []
        for i, pool in enumerate(cycle.pools):
            token_in = cycle.tokens[i] if i < len(cycle.tokens) else None
            token_out = cycle.tokens[i + 1] if i + 1 < len(cycle.tokens) else None
            p = pools.get(pool)
            hop = stored[i] if stored else {}
            hops.append(
                {
                    "index": i + 1,
                    "pool": pool,
                    "pool_name": p.name if p else None,
                    "dex": p.dex.name if p and p.dex else None,
                    "venue": hop.get("venue") or (cycle.venues[i] if i < len(cycle.venues) else None),
                    "fee_bps": p.swap_fee_bps if p else None,  # the pair's own fee where its DEX has them
                    "pool_url": _explorer(tx.chain, "address", pool),
                    "token_in": _token_view(tx.chain, tokens, token_in),
                    "token_out": _token_view(tx.chain, tokens, token_out),
                    # Each hop's amounts (pool's side) where stored; rows from before, only the cycle's ends.
                    "amount_in": hop.get("amount_in") or (str(cycle.start_amount) if i == 0 else None),
                    "amount_out": hop.get("amount_out")
                    or (str(cycle.end_amount) if i == len(cycle.pools) - 1 else None),
                }
            )
        cycles.append({"cycle": cycle, "hops": hops, "start": _token_view(tx.chain, tokens, cycle.start_token)})
    context = {
        "tx": tx,
        "data": transaction_data(tx),
        "cycles": cycles,
        "tx_url": _explorer(tx.chain, "tx", tx.tx_hash),
        "block_url": _explorer(tx.chain, "block", str(tx.block_number)),
        "from_url": _explorer(tx.chain, "address", tx.from_address),
        "coinbase": None if tx.coinbase_transfer_wei is None else str(tx.coinbase_transfer_wei),
        "profits": [{**p, "token_view": _token_view(tx.chain, tokens, p["token"])} for p in tx.profits],
        "builder_payments": list(tx.builder_payments),
        "profit_raw": None if tx.profit_raw is None else str(tx.profit_raw),
        "captured": [
            opportunity_data(o)
            for o in Opportunity.objects.filter(chain_id=tx.chain_id, capture_tx_hash=tx.tx_hash)[:20]
        ],
    }
    return render(request, "dashboard/transaction.html", context)


def _token_view(chain: Chain, tokens: dict[str, Token], address: str | None) -> dict[str, Any] | None:
    if address is None:
        return None
    token = tokens.get(address)
    return {
        "address": address,
        "symbol": (token.symbol if token and token.symbol else address[:10] + "…"),
        "decimals": token.decimals if token else None,
        "url": _explorer(chain, "token", address),
    }


def _address_or_404(address: str) -> str:
    if not is_address(address):
        raise Http404("not an address")
    return checksum(address)


@require_GET
def bot_page(request: HttpRequest, address: str) -> HttpResponse:
    """A bot's address (a sender, or the contract senders call): totals per chain and its latest transactions."""
    address = _address_or_404(address)
    chains = {c.chain_id: c for c in Chain.objects.all()}
    txs = [
        transaction_data(t)
        for t in ArbitrageTransaction.objects.filter(from_address=address).order_by("-detected_at", "-id")[:PAGE_ROWS]
    ]
    if not txs:  # a bot's contract: the senders' totals are per sender, the rows are here
        txs = [
            transaction_data(t)
            for t in ArbitrageTransaction.objects.filter(contract_address=address).order_by("-detected_at", "-id")[
                :PAGE_ROWS
            ]
        ]
    context = {
        "address": address,
        "totals": selectors.bot_totals(sender=address),
        "contract_totals": selectors.contract_totals(contract=address),
        "transactions": txs,
        "links": [(c, c.explorer_link("address", address)) for c in chains.values() if c.explorer_url],
        "captured": [
            opportunity_data(o)
            for o in Opportunity.objects.filter(captured_by=address).order_by("-detected_at", "-id")[:PAGE_ROWS]
        ],
    }
    return render(request, "dashboard/bot.html", context)


@require_GET
def pool_page(request: HttpRequest, address: str) -> HttpResponse:
    """A pool: what it is, its totals, its latest opportunities and the arbitrages through it."""
    address = _address_or_404(address)
    pools = list(Pool.objects.filter(address=address).select_related("chain", "dex", "token0", "token1"))
    context = {
        "address": address,
        "pools": [
            {
                "pool": p,
                "url": p.chain.explorer_link("address", address),
                "reserve0": str(p.reserve0),
                "reserve1": str(p.reserve1),
            }
            for p in pools
        ],
        "totals": selectors.pool_totals(pool=address),
        "opportunities": [
            opportunity_data(o)
            for o in Opportunity.objects.filter(pool_address=address).order_by("-detected_at", "-id")[:PAGE_ROWS]
        ],
        "transactions": selectors.transactions_with(field="pools_involved", value=address, limit=PAGE_ROWS),
    }
    return render(request, "dashboard/pool.html", context)
