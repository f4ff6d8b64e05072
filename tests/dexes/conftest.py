from __future__ import annotations

from collections.abc import Iterator

import pytest

from devnet.anvil import AnvilProcess
from tests.dexes.v3_chain import V3Devnet


@pytest.fixture(scope="module")
def v3_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V3Devnet]:
    """A fresh anvil (one block per transaction, no code-size limit: the genuine deployers
    exceed EIP-170) with tokens and the callback harness deployed."""
    log = tmp_path_factory.mktemp("v3anvil") / "anvil.log"
    node = AnvilProcess(chain_id=31337, automine=True, log_path=log, extra_args=["--disable-code-size-limit"])
    node.start()
    try:
        yield V3Devnet(node.rpc_url)
    finally:
        node.stop()
