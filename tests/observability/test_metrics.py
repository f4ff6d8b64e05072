"""/metrics: every family is exposed, guarded, and the values move when the work they count happens."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from arbmonitor import metrics
from devnet.anvil import free_port
from dexes.uniswap_v2.events import SWAP_TOPIC, SYNC_TOPIC
from evm.rpc import ChainClient
from opportunities.services import opportunity_record_many
from scanning.loop import BlockBatch, scan_run
from streaming.broadcast import broadcast_flush, broadcast_opportunity
from streaming.fanout import StreamHub
from streaming.outbox import Outbox
from streaming.routing import websocket_urlpatterns
from tests.chains.conftest import client_for, config_for
from tests.chains.faulty_rpc import FaultyRpc
from tests.factories import PoolFactory
from tests.opportunities.test_services import draft
from tests.streaming.helpers import opportunity

TIMEOUT = 10


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_every_family_is_exposed(client: Client) -> None:
    text = client.get("/metrics").content.decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    for family in metrics.FAMILIES:
        assert family._name in names, family._name  # type: ignore[attr-defined]
    assert "# TYPE arbmonitor_scan_duration_seconds histogram" in text


@pytest.mark.django_db
def test_metrics_are_guarded_by_token_or_network(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    settings.METRICS_TOKEN = "t0ken"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").status_code == 200


def test_endpoint_labels_never_carry_a_path_or_key() -> None:
    assert metrics.endpoint_label("https://bsc.example.org/v1/SECRETKEY?x=1") == "https://bsc.example.org"
    assert metrics.endpoint_label("ws://127.0.0.1:8545") == "ws://127.0.0.1:8545"


@dataclass
class Counting:
    kind: str = "transactions"
    batches: list[BlockBatch] = field(default_factory=list)

    def topics(self) -> list[list[str]]:
        return [[SYNC_TOPIC, SWAP_TOPIC]]

    def fetch(self, batch: BlockBatch) -> None:
        return None

    def compute(self, batch: BlockBatch, fetched: None) -> None:
        return None

    def write(self, batch: BlockBatch, computed: None) -> int:
        self.batches.append(batch)
        return 0

    def rollback_fetch(self, chain_id: int, from_block: int) -> None:
        return None

    def rollback(self, chain_id: int, from_block: int, fetched: None) -> None:
        pass


@pytest.fixture
def chain56(devnet_56: Any) -> Iterator[tuple[Any, ChainClient]]:
    config = config_for(devnet_56)
    client = client_for(config)
    yield config, client
    client.close()


@pytest.mark.integration
@pytest.mark.django_db
def test_a_scan_moves_scan_and_rpc_metrics(client: Client, chain56: tuple[Any, ChainClient]) -> None:
    config, chain_client = chain56
    before = scrape(client)
    processor = Counting()
    report = scan_run(56, processor, config=config, client=chain_client, max_blocks=5)
    after = scrape(client)
    labels = {"chain_id": "56", "kind": "transactions"}
    assert report.blocks == 5
    assert (
        value(after, "arbmonitor_scan_blocks_total", **labels) - value(before, "arbmonitor_scan_blocks_total", **labels)
        == 5
    )
    logs = sum(len(b.logs) for b in processor.batches)
    assert (
        value(after, "arbmonitor_scan_logs_total", **labels) - value(before, "arbmonitor_scan_logs_total", **labels)
        == logs
    )
    assert (
        value(after, "arbmonitor_scan_duration_seconds_count", **labels)
        == value(before, "arbmonitor_scan_duration_seconds_count", **labels) + 1
    )
    assert value(after, "arbmonitor_scan_runs_total", outcome="ok", **labels) >= 1
    assert value(after, "arbmonitor_scan_lag_blocks", **labels) == report.lag
    assert value(after, "arbmonitor_scan_lag_seconds", **labels) > 0  # the devnet's blocks are in the past
    assert value(after, "arbmonitor_scan_last_success_timestamp_seconds", **labels) > 0
    endpoint = metrics.endpoint_label(config.rpc_urls[0])
    rpc = {"chain_id": "56", "endpoint": endpoint, "method": "eth_blockNumber"}
    assert value(after, "arbmonitor_rpc_requests_total", **rpc) > value(before, "arbmonitor_rpc_requests_total", **rpc)
    assert value(after, "arbmonitor_rpc_request_duration_seconds_count", **rpc) > 0


@pytest.mark.integration
@pytest.mark.django_db
def test_rpc_429s_and_failovers_are_counted(client: Client, devnet_56: Any) -> None:
    faulty = FaultyRpc(devnet_56.rpc_url).start()
    faulty_url, dead = faulty.url, f"http://127.0.0.1:{free_port()}"
    try:
        chain_client = client_for(config_for(devnet_56, rpc_urls=[dead, faulty_url]))
        before = scrape(client)
        chain_client.block_number()  # the dead URL refuses: fail over
        faulty.set("http429", fail_times=1, retry_after="0")
        chain_client.block_number()
        after = scrape(client)
    finally:
        faulty.stop()
    method = "eth_blockNumber"
    dead_label, faulty_label = metrics.endpoint_label(dead), metrics.endpoint_label(faulty_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("arbmonitor_rpc_failovers_total", chain_id="56", endpoint=faulty_label) == 1
    assert (
        delta("arbmonitor_rpc_errors_total", chain_id="56", endpoint=dead_label, method=method, reason="connection")
        >= 1
    )
    assert (
        delta("arbmonitor_rpc_errors_total", chain_id="56", endpoint=faulty_label, method=method, reason="rate_limited")
        == 1
    )


@pytest.mark.django_db
def test_stored_rows_are_counted(client: Client, django_capture_on_commit_callbacks: Any) -> None:
    pool = PoolFactory()
    before = value(scrape(client), "arbmonitor_detections_stored_total", chain_id="56", kind="opportunities")
    with django_capture_on_commit_callbacks(execute=True):
        opportunity_record_many(drafts=[draft(pool, 1), draft(pool, 2)], broadcast=False)
    after = value(scrape(client), "arbmonitor_detections_stored_total", chain_id="56", kind="opportunities")
    assert after - before == 2


@pytest.mark.usefixtures("stream")
async def test_a_connection_and_its_notifications_show_up() -> None:
    def read() -> dict[Any, float]:
        body, _ = metrics.metrics_text()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples
        }

    before = read()
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/v1/stream")
    connected, _ = await ws.connect(timeout=TIMEOUT)
    assert connected and (await ws.receive_json_from(timeout=TIMEOUT))["type"] == "connected"
    try:
        during = read()
        assert value(during, "arbmonitor_ws_connections") == value(before, "arbmonitor_ws_connections") + 1
        assert (
            value(during, "arbmonitor_ws_connections_opened_total")
            == value(before, "arbmonitor_ws_connections_opened_total") + 1
        )
        await ws.send_to(text_data=json.dumps({"type": "subscribe", "channel": "opportunities", "filters": {}}))
        assert (await ws.receive_json_from(timeout=TIMEOUT))["type"] == "subscribed"
        broadcast_opportunity(opportunity())
        assert await asyncio.to_thread(broadcast_flush, 10)
        assert (await ws.receive_json_from(timeout=TIMEOUT))["type"] == "opportunity"
        after = read()
    finally:
        await ws.disconnect()
    for name, labels in [
        ("arbmonitor_broadcasts_total", {"outcome": "published"}),
        ("arbmonitor_ws_events_total", {"channel": "opportunities"}),
        ("arbmonitor_ws_deliveries_total", {"channel": "opportunities"}),
        ("arbmonitor_detection_to_send_seconds_count", {"path": "websocket"}),
    ]:
        assert value(after, name, **labels) >= value(before, name, **labels) + 1, name
    closed = read()
    assert value(closed, "arbmonitor_ws_connections") == value(before, "arbmonitor_ws_connections")


async def test_lagging_closes_and_lost_events_are_counted(settings: Any) -> None:
    before_lagging = metrics.WS_LAGGING_CLOSES._value.get()  # type: ignore[attr-defined]
    never = asyncio.Event()

    async def stuck_send(message: Any) -> None:
        await never.wait()  # a client that does not read

    outbox = Outbox(stuck_send, limit=2, label="slow")
    for n in range(5):
        outbox.deliver({"type": "websocket.send", "text": str(n)})
    assert outbox.lagging
    assert metrics.WS_LAGGING_CLOSES._value.get() == before_lagging + 1  # type: ignore[attr-defined]
    outbox.cancel()

    before_lost = metrics.WS_EVENTS_LOST._value.get()  # type: ignore[attr-defined]
    hub = StreamHub()
    event = {"type": "stream.notification", "channel": "opportunities", "chain_id": 56, "profit": 1.0}
    hub.dispatch({**event, "publisher": "p1", "publisher_seq": 1, "swap_count": None, "text": "{}"})
    hub.dispatch({**event, "publisher": "p1", "publisher_seq": 4, "swap_count": None, "text": "{}"})
    assert metrics.WS_EVENTS_LOST._value.get() == before_lost + 2  # type: ignore[attr-defined]
    await hub.close()
