"""Benchmark: the history API, dashboard pages and admin changelists on 10M + 10M rows (PostgreSQL).

Fills the database ``arb_api_bench`` (created, migrated) with ``--rows`` arbitrage transactions and
as many opportunities spread over the last 60 days on two chains (COPY, secondary indexes built
after the load), rebuilds the aggregates with ``aggregates_rebuild``, then times every endpoint
in-process (Django test client: URL routing, DRF, SQL, JSON rendering; no network) and prints
p50/p95 per endpoint as a Markdown table.

    .venv/bin/python bench/api.py                 # load (if empty) + measure
    .venv/bin/python bench/api.py --rows 1000000  # a smaller run
    .venv/bin/python bench/api.py --reload        # drop and refill first
    .venv/bin/python bench/api.py --drop          # drop the bench database and exit

The 10M-row database takes ~12 GB of disk; drop it when done (the script rebuilds it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = "postgres://postgres@127.0.0.1:5432"
DB = os.environ.get("BENCH_API_DB", "arb_api_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbmonitor.settings")
os.environ.setdefault("DEBUG", "1")
os.environ["DATABASE_URL"] = f"{SERVER}/{DB}"
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/4")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

import psycopg  # noqa: E402

CHAINS = [(56, "BNB Smart Chain", "BNB", "https://bscscan.com"), (137, "Polygon PoS", "POL", "https://polygonscan.com")]
POOLS_PER_CHAIN = 5_000
TOKENS_PER_CHAIN = 1_000
BOTS_PER_CHAIN = 3_000
DAYS = 60
TX_TABLE = "transactions_arbitragetransaction"
OPP_TABLE = "opportunities_opportunity"


def address(kind: int, chain: int, n: int) -> str:
    """A deterministic, EIP-55-free (all digits/lowercase) address: the scanners store checksums, and
    for these hex strings the checksum spelling of a digit-only body is itself."""
    return "0x" + f"{kind:02d}{chain:06d}{n:032d}"


def server_sql(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def database_exists() -> bool:
    with psycopg.connect(f"{SERVER}/postgres") as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone() is not None


def skew(rng: random.Random, n: int, power: float = 3.0) -> int:
    """0 … n-1, a few values much more often than the rest (top bots, hot pools)."""
    return int(n * rng.random() ** power)


def load(rows: int) -> None:
    server_sql(f"DROP DATABASE IF EXISTS {DB}")
    server_sql(f"CREATE DATABASE {DB}")
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], check=True, env=os.environ)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = _drop_secondary_indexes(conn)
        _load_registry(conn)
        started = time.monotonic()
        _copy(conn, TX_TABLE, _tx_columns(), _tx_rows(rows))
        print(f"  {rows:,} transactions copied in {time.monotonic() - started:.0f} s", flush=True)
        started = time.monotonic()
        _opp_insert(conn, rows, GENESIS)
        print(f"  {rows:,} opportunities inserted in {time.monotonic() - started:.0f} s", flush=True)
        started = time.monotonic()
        for name, sql in indexes:
            t = time.monotonic()
            conn.execute(sql)
            print(f"  index {name}: {time.monotonic() - t:.0f} s", flush=True)
        print(f"  indexes rebuilt in {time.monotonic() - started:.0f} s", flush=True)
        for table in (TX_TABLE, OPP_TABLE):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            conn.execute(f"VACUUM ANALYZE {table}")
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "aggregates_rebuild"], check=True, env=os.environ)
    print(f"  aggregates rebuilt in {time.monotonic() - started:.0f} s", flush=True)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _drop_secondary_indexes(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """Drop the detection tables' non-unique indexes (COPY is far faster without them); return how to rebuild."""
    found = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
        "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.tablename = ANY(%s) AND NOT x.indisunique",
        [[TX_TABLE, OPP_TABLE]],
    ).fetchall()
    for name, _ in found:
        conn.execute(f"DROP INDEX {name}")
    return [(name, sql) for name, sql in found]


def _load_registry(conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    for chain_id, name, symbol, explorer in CHAINS:
        conn.execute(
            "INSERT INTO chains_chain (chain_id, name, native_symbol, block_time, explorer_url, enabled) "
            "VALUES (%s, %s, %s, 3, %s, true)",
            [chain_id, name, symbol, explorer],
        )
        dex_ids = [
            conn.execute(
                "INSERT INTO chains_dex (chain_id, name, factory_address, fee_bps) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                [chain_id, dex, address(9, chain_id, i), 25 + 5 * i],
            ).fetchone()[0]
            for i, dex in enumerate(("PancakeSwap V2", "BiSwap", "SushiSwap"))
        ]
        with conn.cursor().copy(
            "COPY chains_token (chain_id, address, symbol, decimals, fee_on_transfer) FROM STDIN"
        ) as copy:
            for t in range(TOKENS_PER_CHAIN):
                copy.write_row([chain_id, address(1, chain_id, t), f"TK{t}", 18, False])
        tokens = dict(conn.execute("SELECT address, id FROM chains_token WHERE chain_id = %s", [chain_id]).fetchall())
        with conn.cursor().copy(
            "COPY chains_pool (chain_id, dex_id, address, token0_id, token1_id, reserve0, reserve1, last_block) "
            "FROM STDIN"
        ) as copy:
            for p in range(POOLS_PER_CHAIN):
                a, b = _pool_tokens(chain_id, p)
                copy.write_row(
                    [chain_id, dex_ids[p % 3], address(2, chain_id, p), tokens[a], tokens[b], 10**24 + p, 3 * 10**24, 1]
                )
        conn.execute(
            "INSERT INTO chains_scancursor (chain_id, kind, block_number, block_hash, head_block_number, updated_at) "
            "VALUES (%s, 'pools', %s, %s, %s, %s), (%s, 'transactions', %s, %s, %s, %s)",
            [chain_id, _block(chain_id, now), "0x" + "ab" * 32, _block(chain_id, now) + 2, now] * 2,
        )


def _pool_tokens(chain_id: int, p: int) -> tuple[str, str]:
    a = p % 50  # 50 base tokens (WBNB, stables…) on one side
    b = 50 + (p * 7) % (TOKENS_PER_CHAIN - 50)
    return address(1, chain_id, a), address(1, chain_id, b)


GENESIS = datetime.now(UTC).replace(microsecond=0) - timedelta(days=DAYS)


def _block(chain_id: int, moment: datetime) -> int:
    return 30_000_000 + int((moment - GENESIS).total_seconds() / 3) + (chain_id == 137) * 10_000_000


def _copy(conn: psycopg.Connection, table: str, columns: list[str], lines: Iterator[str]) -> None:
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= 20_000:
                copy.write("".join(chunk))
                chunk = []
        copy.write("".join(chunk))


def _tx_columns() -> list[str]:
    return [
        "id",
        "chain_id",
        "tx_hash",
        "from_address",
        "block_number",
        "block_hash",
        "block_timestamp",
        "gas_price_gwei",
        "gas_used",
        "gas_cost_native",
        "gas_cost_usd",
        "swap_count",
        "strategy",
        "profit_gross_usd",
        "profit_net_usd",
        "pools_involved",
        "tokens_involved",
        "detected_at",
        "profit_token",
        "profit_raw",
        "coinbase_transfer_wei",
    ]


def _tx_rows(rows: int) -> Iterator[str]:
    rng = random.Random(1)
    span = DAYS * 86400
    for i in range(1, rows + 1):
        chain_id = 56 if i % 3 else 137
        moment = GENESIS + timedelta(seconds=span * i / rows)
        hops = 2 + (rng.random() < 0.3)
        pools = [skew(rng, POOLS_PER_CHAIN, 2.0) for _ in range(hops)]
        tokens = []
        for p in pools:
            tokens.append(_pool_tokens(chain_id, p)[0])
        tokens.append(tokens[0])
        gross = round(rng.random() ** 2 * 200, 6)
        gas = round(0.05 + rng.random() * 0.5, 6)
        ts = moment.strftime("%Y-%m-%d %H:%M:%S+00")
        coinbase = str(rng.randrange(10**14, 10**17)) if rng.random() < 0.3 else "\\N"
        yield (
            f"{i}\t{chain_id}\t0x{i:064x}\t{address(3, chain_id, skew(rng, BOTS_PER_CHAIN))}\t"
            f"{_block(chain_id, moment)}\t"
            f"0x{'ee' * 32}\t{ts}\t3.000000000\t{180000 + i % 90000}\t0.000600000000000000\t{gas}\t{hops}\t{hops}-hop\t"
            f"{gross}\t{round(gross - gas, 6)}\t{json.dumps([address(2, chain_id, p) for p in pools])}\t"
            f"{json.dumps(tokens)}\t{ts}\t{tokens[0]}\t{rng.randrange(10**15, 10**20)}\t{coinbase}\n"
        )


def _opp_insert(conn: psycopg.Connection, rows: int, genesis: datetime) -> None:
    """The opportunities, generated by PostgreSQL itself (INSERT … SELECT generate_series: several times
    faster than formatting rows in Python for COPY). ~8 per block on distinct pools, spread evenly over
    the days; 10 % captured by a bot drawn with the same skew as the transactions' senders."""
    conn.execute(
        f"""
        INSERT INTO {OPP_TABLE} (id, chain_id, pool_id, pool_name, pool_address, imbalance_pct, profit_usd,
            profit_native, reserve0, reserve1, block_number, block_hash, detected_at, captured, captured_by,
            capture_tx_hash, captured_at, path_pools, path_tokens, start_token, amount_in, amount_out, profit_raw,
            gas_estimate, gas_cost_usd)
        SELECT g.i, g.chain_id, pl.id, pl.name, pl.address, round((random() * 5)::numeric, 4),
            round((random() ^ 2 * 100)::numeric, 6), 0.01, 10::numeric ^ 24 + g.i, 3 * 10::numeric ^ 24 + g.i,
            ((30000000 + floor(g.secs / 3) + (g.chain_id = 137)::int * 10000000) * 10 + g.i %% 8)::bigint,
            '0x' || repeat('aa', 32), g.ts, g.captured,
            CASE WHEN g.captured THEN '0x03' || lpad(g.chain_id::text, 6, '0')
                || lpad(floor({BOTS_PER_CHAIN} * random() ^ 3)::text, 32, '0') END,
            CASE WHEN g.captured THEN '0x' || lpad(to_hex(g.i), 64, '0') END,
            CASE WHEN g.captured THEN g.ts END,
            jsonb_build_array(pl.address), jsonb_build_array(pl.a, pl.b, pl.a), pl.a,
            10::numeric ^ 18, 10::numeric ^ 18 + 10::numeric ^ 16, 10::numeric ^ 16, 250000, 0.5
        FROM (
            SELECT i, CASE WHEN i %% 3 = 0 THEN 137 ELSE 56 END chain_id,
                ((i / 8) * 248 + (i %% 8) * 613) %% {POOLS_PER_CHAIN} p,
                floor({DAYS * 86400}::float8 * (i / 8) * 8 / %(rows)s) secs,
                %(genesis)s::timestamptz
                    + floor({DAYS * 86400}::float8 * (i / 8) * 8 / %(rows)s) * interval '1 second' ts,
                random() < 0.1 captured
            FROM generate_series(1, %(rows)s::bigint) i
        ) g
        JOIN (
            SELECT p.chain_id, p.id, p.address, t0.symbol || '-' || t1.symbol name, t0.address a, t1.address b,
                substr(p.address, 11)::bigint n
            FROM chains_pool p JOIN chains_token t0 ON t0.id = p.token0_id JOIN chains_token t1 ON t1.id = p.token1_id
        ) pl ON pl.chain_id = g.chain_id AND pl.n = g.p
        """,
        {"rows": rows, "genesis": genesis},
    )


# ---------------------------------------------------------------------------------------------------------------


def measure(repeats: int, only: str | None = None) -> list[tuple[str, float, float, int]]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from opportunities.models import Opportunity
    from transactions.models import ArbitrageTransaction

    rng = random.Random(3)
    client = Client()
    staff = Client()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})
    staff.force_login(user)
    max_tx = ArbitrageTransaction.objects.order_by("-id").values_list("id", flat=True).first() or 1
    max_opp = Opportunity.objects.order_by("-id").values_list("id", flat=True).first() or 1
    first_page = client.get("/api/v1/transactions/?chain_id=56").json()
    cursor_url = first_page["next"]

    def bot() -> str:
        return address(3, rng.choice((56, 137)), skew(rng, BOTS_PER_CHAIN))

    def rare_bot() -> str:
        return address(3, 56, BOTS_PER_CHAIN - 1 - rng.randrange(100))

    def pool() -> str:
        return address(2, rng.choice((56, 137)), skew(rng, POOLS_PER_CHAIN, 2.0))

    def hot_pool() -> str:
        return address(2, rng.choice((56, 137)), rng.randrange(5))

    def pool_cursor() -> str:
        return str(client.get(f"/api/v1/transactions/?pool={pool()}").json()["next"] or "/api/v1/transactions/")

    def tx_id() -> int:
        return rng.randrange(1, max_tx)

    cases: list[tuple[str, Callable[[], str], Client]] = [
        ("opportunities (newest)", lambda: "/api/v1/opportunities/", client),
        ("opportunities ?chain_id&min_profit", lambda: "/api/v1/opportunities/?chain_id=137&min_profit=50", client),
        ("opportunities ?pool=", lambda: f"/api/v1/opportunities/?pool={pool()}", client),
        ("opportunities ?captured_by=", lambda: f"/api/v1/opportunities/?captured_by={bot()}", client),
        (
            "opportunities ?token=",
            lambda: f"/api/v1/opportunities/?token={address(1, 56, 50 + rng.randrange(900))}",
            client,
        ),
        (
            "opportunities ?token= (a base token, in ~100 pools)",
            lambda: f"/api/v1/opportunities/?token={address(1, 56, rng.randrange(50))}",
            client,
        ),
        ("opportunities ?block_min&block_max", lambda: _block_range("opportunities", rng), client),
        ("opportunity detail", lambda: f"/api/v1/opportunities/{rng.randrange(1, max_opp)}/", client),
        ("transactions (newest)", lambda: "/api/v1/transactions/", client),
        ("transactions next page (cursor)", lambda: cursor_url, client),
        ("transactions ?sender= (top bot)", lambda: f"/api/v1/transactions/?sender={bot()}", client),
        ("transactions ?sender= (rare bot)", lambda: f"/api/v1/transactions/?sender={rare_bot()}", client),
        ("transactions ?pool=", lambda: f"/api/v1/transactions/?pool={pool()}", client),
        ("transactions ?pool= (hottest pools)", lambda: f"/api/v1/transactions/?pool={hot_pool()}", client),
        ("transactions ?pool= next page (cursor)", lambda: pool_cursor(), client),
        ("transactions ?pool=&min_profit=150", lambda: f"/api/v1/transactions/?pool={pool()}&min_profit=150", client),
        ("transactions ?token=", lambda: f"/api/v1/transactions/?token={address(1, 56, rng.randrange(50))}", client),
        (
            "transactions ?min_swaps=3&min_profit=100",
            lambda: "/api/v1/transactions/?min_swaps=3&min_profit=100",
            client,
        ),
        ("transactions ?block_min&block_max", lambda: _block_range("transactions", rng), client),
        ("transaction detail", lambda: f"/api/v1/transactions/{tx_id()}/", client),
        ("search tx hash", lambda: f"/api/v1/search/?q=0x{tx_id():064x}", client),
        (
            "search block",
            lambda: f"/api/v1/search/?q={_block(56, GENESIS + timedelta(days=rng.random() * DAYS))}",
            client,
        ),
        ("search bot address", lambda: f"/api/v1/search/?q={bot()}", client),
        ("search pool address", lambda: f"/api/v1/search/?q={pool()}", client),
        (
            "search token address",
            lambda: f"/api/v1/search/?q={address(1, 137, rng.randrange(TOKENS_PER_CHAIN))}",
            client,
        ),
        ("search symbol", lambda: f"/api/v1/search/?q=TK{rng.randrange(TOKENS_PER_CHAIN)}", client),
        *[(f"stats {p}", (lambda p=p: f"/api/v1/stats/?period={p}"), client) for p in ("1h", "1d", "7d", "30d")],
        *[
            (f"leaderboard {p}", (lambda p=p: f"/api/v1/leaderboard/?period={p}"), client)
            for p in ("1h", "1d", "7d", "30d")
        ],
        ("leaderboard 30d ?chain_id=56", lambda: "/api/v1/leaderboard/?period=30d&chain_id=56", client),
        ("series 30d", lambda: "/api/v1/series/?chain_id=56&period=30d", client),
        ("chains", lambda: "/api/v1/chains/", client),
        ("page / (dashboard, 1d)", lambda: "/", client),
        ("page / ?period=30d", lambda: "/?period=30d", client),
        ("page /tx/<id>", lambda: f"/tx/{tx_id()}", client),
        ("page /bot/<address>", lambda: f"/bot/{bot()}", client),
        ("page /pool/<address>", lambda: f"/pool/{pool()}", client),
        ("admin: transactions changelist", lambda: "/admin/transactions/arbitragetransaction/", staff),
        (
            "admin: transactions ?chain__chain_id__exact=56",
            lambda: "/admin/transactions/arbitragetransaction/?chain__chain_id__exact=56",
            staff,
        ),
        ("admin: opportunities changelist", lambda: "/admin/opportunities/opportunity/", staff),
        (
            "admin: transaction change page",
            lambda: f"/admin/transactions/arbitragetransaction/{tx_id()}/change/",
            staff,
        ),
    ]
    results = []
    for name, url, who in cases:
        if only and not any(part in name for part in only.split(",")):
            continue
        times = []
        for attempt in range(repeats + 2):
            target = url()
            started = time.perf_counter()
            response = who.get(target)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{name}: {target} -> {response.status_code} {response.content[:300]!r}")
            if attempt >= 2:  # two warm-up requests
                times.append(elapsed)
        times.sort()
        p50 = statistics.median(times)
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        results.append((name, p50, p95, len(times)))
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {'yes' if p95 <= 100 else '**no**'} |", flush=True)
    return results


def _block_range(kind: str, rng: random.Random) -> str:
    start = _block(56, GENESIS + timedelta(days=rng.random() * DAYS))
    scale = 10 if kind == "opportunities" else 1
    return f"/api/v1/{kind}/?chain_id=56&block_min={start * scale}&block_max={(start + 200) * scale}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="transactions, and as many opportunities")
    parser.add_argument("--reload", action="store_true", help="drop and refill the bench database first")
    parser.add_argument("--drop", action="store_true", help="drop the bench database and exit")
    parser.add_argument("--repeats", type=int, default=40, help="timed requests per endpoint")
    parser.add_argument(
        "--only", default=None, help="only the endpoints whose name contains one of these (comma-separated)"
    )
    args = parser.parse_args()
    if args.drop:
        server_sql(f"DROP DATABASE IF EXISTS {DB}")
        return 0
    if args.reload or not database_exists():
        print(f"loading {args.rows:,} transactions and {args.rows:,} opportunities into {DB}", flush=True)
        started = time.monotonic()
        load(args.rows)
        print(f"load total: {time.monotonic() - started:.0f} s", flush=True)
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        counts = [
            conn.execute(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{t}'").fetchone()[0]
            for t in (TX_TABLE, OPP_TABLE)
        ]
    print(f"\n{DB}: {size}, ~{counts[0]:,} transactions, ~{counts[1]:,} opportunities\n")
    print("| endpoint | p50 ms | p95 ms | p95 ≤ 100 ms |\n|---|---|---|---|")
    measure(args.repeats, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
