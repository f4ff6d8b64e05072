// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IAggPair {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function getReserves() external view returns (uint112, uint112, uint32);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

interface IAggV3Pool {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256, int256);
}

interface IAggToken {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title A small DEX aggregator (multi-hop router over V2 and V3-style pools).
/// @notice Shaped like the public aggregators arbitrage bots and users call as
/// one hop: it pulls the caller's tokens, optionally takes a fee on the input
/// (sent to `feeCollector`, or kept in the aggregator's own balance when that
/// is zero), routes through the pools and forwards the output to `recipient`. Between hops the tokens sit in the aggregator,
/// except from a V2 pair or V3 pool into a following V2 pair, which is paid
/// directly (pair to pair). The last pool always pays the aggregator, which
/// forwards what it received. Hop kinds as ArbExecutor's: 0 = V2 pair (feeBps
/// for the amount out), 1 = Uniswap V3, 2 = PancakeSwap V3, 3 = Algebra.
contract DevAggregator {
    struct Hop {
        address pool;
        uint8 kind;
        uint16 feeBps;
    }

    uint160 internal constant MIN_SQRT = 4295128740;
    uint160 internal constant MAX_SQRT = 1461446703485210103287273052203988822378723970341;

    address public immutable feeCollector;
    // The V3-style pool allowed to call a swap callback right now (zero otherwise).
    address private _pool;

    event Routed(
        address indexed sender,
        address indexed recipient,
        address tokenIn,
        uint256 amountIn,
        address tokenOut,
        uint256 amountOut,
        uint256 fee
    );

    constructor(address feeCollector_) {
        feeCollector = feeCollector_;
    }

    /// @notice Sell `amountIn` of `tokenIn` along `hops`; the output goes to
    /// `recipient`. Reverts below `minOut`.
    function swap(
        Hop[] calldata hops,
        address tokenIn,
        uint256 amountIn,
        uint256 minOut,
        uint16 feeBps,
        address recipient
    ) external returns (uint256 amountOut) {
        require(hops.length >= 1 && amountIn > 0 && feeBps <= 100, "AGG: bad call");
        uint256 held = _pull(tokenIn, amountIn);
        uint256 fee = (held * feeBps) / 10000;
        if (fee > 0) {
            if (feeCollector != address(0)) require(IAggToken(tokenIn).transfer(feeCollector, fee), "AGG: fee");
            held -= fee;
        }
        address token = tokenIn;
        bool atPair; // the input already sits in the current V2 pair
        for (uint256 i; i < hops.length; i++) {
            Hop calldata h = hops[i];
            bool nextPair = i + 1 < hops.length && hops[i + 1].kind == 0;
            address to = nextPair ? hops[i + 1].pool : address(this);
            (token, held) = h.kind == 0
                ? _v2(h, token, held, atPair, to)
                : _v3(h.pool, token, held, to);
            atPair = nextPair;
        }
        amountOut = held;
        require(amountOut >= minOut && amountOut > 0, "AGG: slippage");
        require(IAggToken(token).transfer(recipient, amountOut), "AGG: forward");
        emit Routed(msg.sender, recipient, tokenIn, amountIn, token, amountOut, fee);
    }

    function _pull(address token, uint256 amount) private returns (uint256 received) {
        uint256 before = IAggToken(token).balanceOf(address(this));
        require(IAggToken(token).transferFrom(msg.sender, address(this), amount), "AGG: pull");
        received = IAggToken(token).balanceOf(address(this)) - before;
    }

    /// @dev A V2 hop: pay the pair (unless the previous pool already did), swap
    /// what it actually received to `to`; returns the token out and, when `to`
    /// is this contract, how much arrived (else the pair's amount out).
    function _v2(Hop calldata h, address tokenIn, uint256 amount, bool atPair, address to)
        private
        returns (address tokenOut, uint256 out)
    {
        if (!atPair) require(IAggToken(tokenIn).transfer(h.pool, amount), "AGG: pay pair");
        bool zeroForOne;
        (tokenOut, out, zeroForOne) = _v2Quote(h.pool, h.feeBps, tokenIn);
        uint256 before = IAggToken(tokenOut).balanceOf(address(this));
        IAggPair(h.pool).swap(zeroForOne ? 0 : out, zeroForOne ? out : 0, to, new bytes(0));
        if (to == address(this)) out = IAggToken(tokenOut).balanceOf(address(this)) - before;
    }

    /// @dev The pair's output for what it actually received (balance - reserve:
    /// fee-on-transfer safe).
    function _v2Quote(address pair, uint16 feeBps, address tokenIn)
        private
        view
        returns (address tokenOut, uint256 out, bool zeroForOne)
    {
        address t0 = IAggPair(pair).token0();
        zeroForOne = tokenIn == t0;
        tokenOut = zeroForOne ? IAggPair(pair).token1() : t0;
        if (!zeroForOne) require(tokenIn == IAggPair(pair).token1(), "AGG: token not in pair");
        (uint112 r0, uint112 r1, ) = IAggPair(pair).getReserves();
        (uint256 rIn, uint256 rOut) = zeroForOne ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        uint256 inWithFee = (IAggToken(tokenIn).balanceOf(pair) - rIn) * (10000 - feeBps);
        out = (inWithFee * rOut) / (rIn * 10000 + inWithFee);
        require(out > 0, "AGG: zero out");
    }

    /// @dev A V3-style hop paid from this contract in the swap callback.
    function _v3(address pool, address tokenIn, uint256 amount, address to)
        private
        returns (address tokenOut, uint256 out)
    {
        address t0 = IAggV3Pool(pool).token0();
        bool zeroForOne = tokenIn == t0;
        tokenOut = zeroForOne ? IAggV3Pool(pool).token1() : t0;
        uint256 before = IAggToken(tokenOut).balanceOf(address(this));
        _pool = pool;
        (int256 d0, int256 d1) = IAggV3Pool(pool).swap(
            to,
            zeroForOne,
            int256(amount),
            zeroForOne ? MIN_SQRT : MAX_SQRT,
            abi.encode(tokenIn)
        );
        require(_pool == address(0), "AGG: no callback");
        out = to == address(this)
            ? IAggToken(tokenOut).balanceOf(address(this)) - before
            : uint256(-(zeroForOne ? d1 : d0));
        require(out > 0, "AGG: zero out");
    }

    function _callback(int256 d0, int256 d1, bytes calldata data) private {
        require(msg.sender == _pool && _pool != address(0), "AGG: callback");
        _pool = address(0);
        address tokenIn = abi.decode(data, (address));
        uint256 owed = uint256(d0 > 0 ? d0 : d1);
        require(IAggToken(tokenIn).transfer(msg.sender, owed), "AGG: pay pool");
    }

    function uniswapV3SwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _callback(d0, d1, data);
    }

    function pancakeV3SwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _callback(d0, d1, data);
    }

    function algebraSwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _callback(d0, d1, data);
    }
}
