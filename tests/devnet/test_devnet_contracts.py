"""Compiled artifacts are fresh, and our events are the canonical V2 ones."""

from __future__ import annotations

from pathlib import Path

from eth_utils import keccak

from devnet import ARTIFACTS_DIR
from devnet.compile import compile_contracts
from devnet.rpc import abi

CANONICAL = {
    "Transfer": "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    "Sync": "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1",
    "Swap": "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822",
    "PairCreated": "0x0d3648bd0f6ba80134a33ba9275ac585d9d315f0ad8355cddefde31afa28d0e9",
}
SIGNATURES = {
    "Transfer": "Transfer(address,address,uint256)",
    "Sync": "Sync(uint112,uint112)",
    "Swap": "Swap(address,uint256,uint256,uint256,uint256,address)",
    "PairCreated": "PairCreated(address,address,address,uint256)",
}


def test_committed_artifacts_match_a_fresh_compile(tmp_path: Path) -> None:
    written = compile_contracts(out_dir=tmp_path)
    committed = sorted(p.name for p in ARTIFACTS_DIR.glob("*.json"))
    assert sorted(p.name for p in written) == committed, "run `python -m devnet compile`"
    for path in written:
        assert path.read_text() == (ARTIFACTS_DIR / path.name).read_text(), (
            f"{path.name} is stale: run `python -m devnet compile` and commit devnet/artifacts"
        )


def test_canonical_topics_are_the_keccak_of_the_signatures() -> None:
    for name, sig in SIGNATURES.items():
        assert "0x" + keccak(text=sig).hex() == CANONICAL[name]


def test_abi_events_have_canonical_topics() -> None:
    assert abi("V2Pair").topic("Sync") == CANONICAL["Sync"]
    assert abi("V2Pair").topic("Swap") == CANONICAL["Swap"]
    assert abi("V2Pair").topic("Transfer") == CANONICAL["Transfer"]
    assert abi("V2Factory").topic("PairCreated") == CANONICAL["PairCreated"]
    for token in ("DevToken", "WrappedNative", "FeeOnTransferToken"):
        assert abi(token).topic("Transfer") == CANONICAL["Transfer"]


def test_pair_exposes_the_v2_interface() -> None:
    fns = abi("V2Pair").fns
    for name in ("getReserves", "token0", "token1", "swap", "mint", "burn", "skim", "sync", "factory"):
        assert name in fns
    assert fns["swap"].inputs == ["uint256", "uint256", "address", "bytes"]
    assert fns["getReserves"].outputs == ["uint112", "uint112", "uint32"]
    assert abi("ArbExecutor").fns["executeCycle"].inputs == ["address[]", "uint16[]", "address", "uint256", "uint256"]
    assert abi("Multicall3").fns["aggregate3"].inputs == ["(address,bool,bytes)[]"]


def test_package_constants_agree() -> None:
    from devnet import CANONICAL_TOPICS

    assert CANONICAL_TOPICS == CANONICAL
