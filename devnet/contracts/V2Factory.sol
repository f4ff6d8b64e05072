// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./V2Pair.sol";

/// @title V2-style factory; every pair it creates charges `feeBps`. With
/// `perPairFees` (Biswap) the fee setter may change one pair's fee afterwards
/// (`setSwapFee(pair, tenthsOfAPercent)`, read back with `pair.swapFee()`).
contract V2Factory {
    uint16 public immutable feeBps;
    bool public immutable perPairFees;
    address public feeToSetter;
    address public feeTo;

    mapping(address => mapping(address => address)) public getPair;
    address[] public allPairs;

    event PairCreated(address indexed token0, address indexed token1, address pair, uint256);

    constructor(uint16 feeBps_, bool perPairFees_) {
        require(feeBps_ < 10000, "V2Factory: FEE");
        feeBps = feeBps_;
        perPairFees = perPairFees_;
        feeToSetter = msg.sender;
    }

    function allPairsLength() external view returns (uint256) {
        return allPairs.length;
    }

    /// @notice keccak256 of the pair creation code, for CREATE2 address maths.
    function pairCodeHash() external pure returns (bytes32) {
        return keccak256(type(V2Pair).creationCode);
    }

    function createPair(address tokenA, address tokenB) external returns (address pair) {
        require(tokenA != tokenB, "V2Factory: IDENTICAL_ADDRESSES");
        (address token0, address token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        require(token0 != address(0), "V2Factory: ZERO_ADDRESS");
        require(getPair[token0][token1] == address(0), "V2Factory: PAIR_EXISTS");
        pair = address(new V2Pair{salt: keccak256(abi.encodePacked(token0, token1))}());
        V2Pair(pair).initialize(token0, token1);
        getPair[token0][token1] = pair;
        getPair[token1][token0] = pair;
        allPairs.push(pair);
        emit PairCreated(token0, token1, pair, allPairs.length);
    }

    function setSwapFee(address pair, uint32 fee) external {
        require(msg.sender == feeToSetter, "V2Factory: FORBIDDEN");
        V2Pair(pair).setSwapFee(fee);
    }

    function setFeeTo(address _feeTo) external {
        require(msg.sender == feeToSetter, "V2Factory: FORBIDDEN");
        feeTo = _feeTo;
    }
}
