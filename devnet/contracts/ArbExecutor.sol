// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IPairLike {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function getReserves() external view returns (uint112, uint112, uint32);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

interface IV3PoolLike {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256, int256);
}

interface IV3FlashLike {
    function flash(address recipient, uint256 amount0, uint256 amount1, bytes calldata data) external;
}

interface ITokenLike {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function approve(address spender, uint256 value) external returns (bool);
}

interface IAggregatorLike {
    function swap(
        ArbExecutor.Hop[] calldata hops,
        address tokenIn,
        uint256 amountIn,
        uint256 minOut,
        uint16 feeBps,
        address recipient
    ) external returns (uint256);
}

/// @title Arbitrage executor, shaped like the contracts real V2 arbitrage bots use.
/// @notice Tokens travel pair to pair: the executor pays the first pair, each
/// pair's `to` is the next pair, the last pair pays the executor. Amounts are
/// computed on chain from getReserves, so a stale opportunity ends in a revert
/// (final balance < initial + minProfit) instead of a loss.
contract ArbExecutor {
    struct Cycle {
        address[] pairs;
        uint16[] feesBps;
        address tokenIn;
        uint256 amountIn;
        uint256 minProfit;
        bool flash;
    }

    /// @notice One hop of a route over any family: kind 0 = V2 pair (feeBps
    /// used for the amount out), 1 = Uniswap V3, 2 = PancakeSwap V3, 3 = Algebra.
    struct Hop {
        address pool;
        uint8 kind;
        uint16 feeBps;
    }

    struct Route {
        Hop[] hops;
        address tokenIn;
        uint256 amountIn;
        uint256 minProfit;
        bool flash;
    }

    uint160 internal constant MIN_SQRT = 4295128740;
    uint160 internal constant MAX_SQRT = 1461446703485210103287273052203988822378723970341;
    uint8 internal constant PAY = 1;
    uint8 internal constant FLASH = 2;

    address public owner;
    // V3-style pool allowed to call a swap callback right now (zero otherwise).
    address private _v3Pool;
    // Pair allowed to call uniswapV2Call during a flash cycle (zero otherwise).
    address private _flashPair;

    event CycleExecuted(address indexed tokenIn, uint256 amountIn, uint256 profit, bool flash);

    modifier onlyOwner() {
        require(msg.sender == owner, "ARB: not owner");
        _;
    }

    constructor(address owner_) {
        owner = owner_ == address(0) ? msg.sender : owner_;
    }

    receive() external payable {}

    function executeCycle(
        address[] calldata pairs,
        uint16[] calldata feesBps,
        address tokenIn,
        uint256 amountIn,
        uint256 minProfit
    ) external onlyOwner returns (uint256 profit) {
        profit = _runCycle(pairs, feesBps, tokenIn, amountIn, minProfit, false);
    }

    /// @notice Same cycle, but the first pair lends its output up front
    /// (flash swap to this contract, which forwards it to the second pair);
    /// the other hops run inside uniswapV2Call and the first pair is repaid
    /// with `amountIn` of tokenIn at the end, so its Swap log comes last.
    /// Needs no capital.
    function executeFlashCycle(
        address[] calldata pairs,
        uint16[] calldata feesBps,
        address tokenIn,
        uint256 amountIn,
        uint256 minProfit
    ) external onlyOwner returns (uint256 profit) {
        profit = _runCycle(pairs, feesBps, tokenIn, amountIn, minProfit, true);
    }

    /// @notice Several cycles in one transaction; then pays `coinbaseWei` of
    /// native coin to block.coinbase (builder tip), funded by msg.value or the
    /// contract's own balance.
    function executeCycles(Cycle[] calldata cycles, uint256 coinbaseWei)
        external
        payable
        onlyOwner
        returns (uint256[] memory profits)
    {
        profits = new uint256[](cycles.length);
        for (uint256 i; i < cycles.length; i++) {
            Cycle calldata c = cycles[i];
            profits[i] = _runCycle(c.pairs, c.feesBps, c.tokenIn, c.amountIn, c.minProfit, c.flash);
        }
        if (coinbaseWei > 0) {
            (bool ok, ) = block.coinbase.call{value: coinbaseWei}("");
            require(ok, "ARB: coinbase");
        }
    }

    /// @notice A cycle over any mix of V2 and V3-style pools. The executor
    /// holds the tokens between hops; each hop's input is what the executor
    /// actually received from the previous one (fee-on-transfer safe). With
    /// `flash` the first pool's output comes first (V2 flash swap, or the V3
    /// swap callback) and the first pool is paid at the end.
    function executeRoute(Route calldata route) external onlyOwner returns (uint256 profit) {
        profit = _runRoute(route);
    }

    /// @notice A route funded by a flash loan from a V3-style pool's `flash`
    /// (`lender`, not on the route: it is locked meanwhile). The route runs in
    /// the flash callback with the borrowed `amountIn`, then loan + fee is
    /// repaid; `profit` (and CycleExecuted's) is what the executor kept, net of
    /// the loan fee.
    function executeRouteFlashLoan(address lender, Route calldata route) external onlyOwner returns (uint256 profit) {
        require(!route.flash && route.hops.length >= 2 && route.amountIn > 0, "ARB: bad route");
        uint256 before = ITokenLike(route.tokenIn).balanceOf(address(this));
        bool zero = route.tokenIn == IV3PoolLike(lender).token0();
        if (!zero) require(route.tokenIn == IV3PoolLike(lender).token1(), "ARB: lender token");
        _v3Pool = lender;
        IV3FlashLike(lender).flash(
            address(this),
            zero ? route.amountIn : 0,
            zero ? 0 : route.amountIn,
            abi.encode(route.hops, route.tokenIn, route.amountIn)
        );
        require(_v3Pool == address(0), "ARB: no flash callback");
        uint256 afterBal = ITokenLike(route.tokenIn).balanceOf(address(this));
        require(afterBal >= before + route.minProfit, "ARB: unprofitable");
        profit = afterBal - before;
        emit CycleExecuted(route.tokenIn, route.amountIn, profit, true);
    }

    /// @notice A route whose hops from `aggFrom` on are one call to an
    /// aggregator (DevAggregator.swap, output back to this contract): the
    /// executor runs hops 0..aggFrom-1 itself, approves the aggregator for
    /// what it holds and lets it route the rest (it may take `aggFeeBps` of
    /// its input). `profit` is what the executor kept.
    function executeAggregated(Route calldata route, address aggregator, uint256 aggFrom, uint16 aggFeeBps)
        external
        onlyOwner
        returns (uint256 profit)
    {
        uint256 n = route.hops.length;
        require(!route.flash && n >= 2 && aggFrom < n && route.amountIn > 0, "ARB: bad route");
        uint256 before = ITokenLike(route.tokenIn).balanceOf(address(this));
        Hop[] memory hops = route.hops;
        (address token, uint256 amount) = (route.tokenIn, route.amountIn);
        for (uint256 i; i < aggFrom; i++) {
            (token, amount) = _hop(hops[i], token, amount);
        }
        Hop[] memory rest = new Hop[](n - aggFrom);
        for (uint256 i = aggFrom; i < n; i++) {
            rest[i - aggFrom] = hops[i];
        }
        require(ITokenLike(token).approve(aggregator, amount), "ARB: approve");
        IAggregatorLike(aggregator).swap(rest, token, amount, 0, aggFeeBps, address(this));
        uint256 afterBal = ITokenLike(route.tokenIn).balanceOf(address(this));
        require(afterBal >= before + route.minProfit, "ARB: unprofitable");
        profit = afterBal - before;
        emit CycleExecuted(route.tokenIn, route.amountIn, profit, false);
    }

    /// @notice Several routes, then builder payments: `coinbaseWei` of native
    /// coin and `payAmount` of `payToken` (e.g. WBNB) to block.coinbase.
    function executeRoutes(Route[] calldata routes, uint256 coinbaseWei, address payToken, uint256 payAmount)
        external
        payable
        onlyOwner
        returns (uint256[] memory profits)
    {
        profits = new uint256[](routes.length);
        for (uint256 i; i < routes.length; i++) {
            profits[i] = _runRoute(routes[i]);
        }
        if (coinbaseWei > 0) {
            (bool ok, ) = block.coinbase.call{value: coinbaseWei}("");
            require(ok, "ARB: coinbase");
        }
        if (payAmount > 0) {
            require(ITokenLike(payToken).transfer(block.coinbase, payAmount), "ARB: coinbase token");
        }
    }

    /// @notice Unrelated single-hop swaps in one transaction (a batch, not an
    /// arbitrage): hop i sells amountsIn[i] of tokensIn[i].
    function swapBatch(Hop[] calldata hops, address[] calldata tokensIn, uint256[] calldata amountsIn)
        external
        onlyOwner
    {
        for (uint256 i; i < hops.length; i++) {
            _hop(hops[i], tokensIn[i], amountsIn[i]);
        }
    }

    function withdraw(address token, uint256 amount) external onlyOwner {
        if (token == address(0)) {
            (bool ok, ) = owner.call{value: amount}("");
            require(ok, "ARB: native");
        } else {
            require(ITokenLike(token).transfer(owner, amount), "ARB: transfer");
        }
    }

    function setOwner(address newOwner) external onlyOwner {
        owner = newOwner;
    }

    // --- internals ---

    function _runRoute(Route calldata r) private returns (uint256 profit) {
        uint256 n = r.hops.length;
        require(n >= 2, "ARB: bad route");
        require(r.amountIn > 0, "ARB: amountIn");
        uint256 before = ITokenLike(r.tokenIn).balanceOf(address(this));
        Hop[] memory hops = r.hops;
        if (!r.flash) {
            (address token, uint256 amount) = (r.tokenIn, r.amountIn);
            for (uint256 i; i < n; i++) {
                (token, amount) = _hop(hops[i], token, amount);
            }
        } else if (hops[0].kind == 0) {
            (, uint256 out0, bool zeroForOne) = _quoteHop(hops[0].pool, hops[0].feeBps, r.tokenIn, r.amountIn);
            _flashPair = hops[0].pool;
            IPairLike(hops[0].pool).swap(
                zeroForOne ? 0 : out0,
                zeroForOne ? out0 : 0,
                address(this),
                abi.encode(uint8(FLASH), hops, r.tokenIn, r.amountIn)
            );
            require(_flashPair == address(0), "ARB: no callback");
        } else {
            bool zeroForOne = r.tokenIn == IV3PoolLike(hops[0].pool).token0();
            _v3Pool = hops[0].pool;
            IV3PoolLike(hops[0].pool).swap(
                address(this),
                zeroForOne,
                int256(r.amountIn),
                zeroForOne ? MIN_SQRT : MAX_SQRT,
                abi.encode(FLASH, hops, r.tokenIn, r.amountIn)
            );
        }
        uint256 afterBal = ITokenLike(r.tokenIn).balanceOf(address(this));
        require(afterBal >= before + r.minProfit, "ARB: unprofitable");
        profit = afterBal - before;
        emit CycleExecuted(r.tokenIn, r.amountIn, profit, r.flash);
    }

    /// @dev One hop paid from and paid out to this contract; returns the
    /// token received and how much of it actually arrived.
    function _hop(Hop memory h, address tokenIn, uint256 amountIn) private returns (address tokenOut, uint256 received) {
        if (h.kind == 0) {
            require(ITokenLike(tokenIn).transfer(h.pool, amountIn), "ARB: transfer in");
            tokenOut = IPairLike(h.pool).token0() == tokenIn ? IPairLike(h.pool).token1() : IPairLike(h.pool).token0();
            uint256 before = ITokenLike(tokenOut).balanceOf(address(this));
            _swapOne(h.pool, h.feeBps, tokenIn, address(this));
            received = ITokenLike(tokenOut).balanceOf(address(this)) - before;
        } else {
            address t0 = IV3PoolLike(h.pool).token0();
            bool zeroForOne = tokenIn == t0;
            tokenOut = zeroForOne ? IV3PoolLike(h.pool).token1() : t0;
            uint256 before = ITokenLike(tokenOut).balanceOf(address(this));
            _v3Pool = h.pool;
            IV3PoolLike(h.pool).swap(
                address(this),
                zeroForOne,
                int256(amountIn),
                zeroForOne ? MIN_SQRT : MAX_SQRT,
                abi.encode(PAY, new Hop[](0), tokenIn, uint256(0))
            );
            received = ITokenLike(tokenOut).balanceOf(address(this)) - before;
        }
        require(received > 0, "ARB: zero out");
    }

    /// @dev Hops start..n-1 from `amount` of `token` already held here.
    function _rest(Hop[] memory hops, uint256 start, address token, uint256 amount) private {
        for (uint256 i = start; i < hops.length; i++) {
            (token, amount) = _hop(hops[i], token, amount);
        }
    }

    function _v3Callback(int256 d0, int256 d1, bytes calldata data) private {
        require(msg.sender == _v3Pool && _v3Pool != address(0), "ARB: callback");
        _v3Pool = address(0);
        (uint8 mode, Hop[] memory hops, address tokenIn, ) = abi.decode(data, (uint8, Hop[], address, uint256));
        (address owedToken, uint256 owed, address gotToken, uint256 got) = d0 > 0
            ? (IV3PoolLike(msg.sender).token0(), uint256(d0), IV3PoolLike(msg.sender).token1(), uint256(-d1))
            : (IV3PoolLike(msg.sender).token1(), uint256(d1), IV3PoolLike(msg.sender).token0(), uint256(-d0));
        address pool = msg.sender;
        if (mode == FLASH) {
            require(owedToken == tokenIn, "ARB: flash token");
            _rest(hops, 1, gotToken, got);
        }
        require(ITokenLike(owedToken).transfer(pool, owed), "ARB: pay pool");
    }

    function _flashCallback(uint256 fee0, uint256 fee1, bytes calldata data) private {
        require(msg.sender == _v3Pool && _v3Pool != address(0), "ARB: flash callback");
        _v3Pool = address(0);
        address lender = msg.sender;
        (Hop[] memory hops, address tokenIn, uint256 amountIn) = abi.decode(data, (Hop[], address, uint256));
        _rest(hops, 0, tokenIn, amountIn);
        uint256 fee = tokenIn == IV3PoolLike(lender).token0() ? fee0 : fee1;
        require(ITokenLike(tokenIn).transfer(lender, amountIn + fee), "ARB: repay loan");
    }

    function uniswapV3FlashCallback(uint256 fee0, uint256 fee1, bytes calldata data) external {
        _flashCallback(fee0, fee1, data);
    }

    function pancakeV3FlashCallback(uint256 fee0, uint256 fee1, bytes calldata data) external {
        _flashCallback(fee0, fee1, data);
    }

    function algebraFlashCallback(uint256 fee0, uint256 fee1, bytes calldata data) external {
        _flashCallback(fee0, fee1, data);
    }

    function uniswapV3SwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _v3Callback(d0, d1, data);
    }

    function pancakeV3SwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _v3Callback(d0, d1, data);
    }

    function algebraSwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _v3Callback(d0, d1, data);
    }

    function _runCycle(
        address[] calldata pairs,
        uint16[] calldata feesBps,
        address tokenIn,
        uint256 amountIn,
        uint256 minProfit,
        bool flash
    ) private returns (uint256 profit) {
        uint256 n = pairs.length;
        require(n >= 2 && feesBps.length == n, "ARB: bad cycle");
        require(amountIn > 0, "ARB: amountIn");
        uint256 before = ITokenLike(tokenIn).balanceOf(address(this));
        if (flash) {
            _startFlash(pairs, feesBps, tokenIn, amountIn);
        } else {
            require(ITokenLike(tokenIn).transfer(pairs[0], amountIn), "ARB: transfer in");
            _swapHops(pairs, feesBps, tokenIn);
        }
        uint256 afterBal = ITokenLike(tokenIn).balanceOf(address(this));
        require(afterBal >= before + minProfit, "ARB: unprofitable");
        profit = afterBal - before;
        emit CycleExecuted(tokenIn, amountIn, profit, flash);
    }

    function _startFlash(
        address[] calldata pairs,
        uint16[] calldata feesBps,
        address tokenIn,
        uint256 amountIn
    ) private {
        (, uint256 out0, bool zeroForOne) = _quoteHop(pairs[0], feesBps[0], tokenIn, amountIn);
        _flashPair = pairs[0];
        bytes memory data = abi.encode(pairs, feesBps, tokenIn, amountIn);
        // As in V2, the callback goes to `to`, so the borrowed tokens come here first.
        IPairLike(pairs[0]).swap(zeroForOne ? 0 : out0, zeroForOne ? out0 : 0, address(this), data);
        require(_flashPair == address(0), "ARB: no callback");
    }

    /// @dev Flash-swap callback from the first pair: run hops 1..n-1, then repay.
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external {
        require(msg.sender == _flashPair && sender == address(this), "ARB: callback");
        _flashPair = address(0);
        if (uint256(bytes32(data[:32])) == FLASH) {
            // executeRoute's flash from a V2 pair: the rest of the route, then repay.
            (, Hop[] memory hops, address routeIn, uint256 routeAmount) = abi.decode(
                data,
                (uint8, Hop[], address, uint256)
            );
            address got = amount0 > 0 ? IPairLike(msg.sender).token0() : IPairLike(msg.sender).token1();
            _rest(hops, 1, got, amount0 > 0 ? amount0 : amount1);
            require(ITokenLike(routeIn).transfer(msg.sender, routeAmount), "ARB: repay");
            return;
        }
        (address[] memory pairs, uint16[] memory feesBps, address tokenIn, uint256 amountIn) = abi.decode(
            data,
            (address[], uint16[], address, uint256)
        );
        address mid = amount0 > 0 ? IPairLike(msg.sender).token0() : IPairLike(msg.sender).token1();
        require(ITokenLike(mid).transfer(pairs[1], amount0 > 0 ? amount0 : amount1), "ARB: forward");
        _swapHopsMem(pairs, feesBps, 1, mid);
        require(ITokenLike(tokenIn).transfer(msg.sender, amountIn), "ARB: repay");
    }

    function _quoteHop(address pair, uint16 feeBps, address tokenIn, uint256 amountIn)
        private
        view
        returns (address tokenOut, uint256 amountOut, bool zeroForOne)
    {
        address t0 = IPairLike(pair).token0();
        (uint112 r0, uint112 r1, ) = IPairLike(pair).getReserves();
        zeroForOne = tokenIn == t0;
        if (!zeroForOne) require(tokenIn == IPairLike(pair).token1(), "ARB: token not in pair");
        (uint256 rIn, uint256 rOut) = zeroForOne ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        tokenOut = zeroForOne ? IPairLike(pair).token1() : t0;
        uint256 inWithFee = amountIn * (10000 - feeBps);
        amountOut = (inWithFee * rOut) / (rIn * 10000 + inWithFee);
        require(amountOut > 0, "ARB: zero out");
    }

    /// @dev Swap through pairs[start..]; the input already sits in pairs[start].
    /// The amount each pair received is read as balance - reserve, so the
    /// maths stays right even for fee-on-transfer tokens.
    function _swapHops(address[] calldata pairs, uint16[] calldata feesBps, address tokenIn) private {
        address token = tokenIn;
        uint256 n = pairs.length;
        for (uint256 i; i < n; i++) {
            token = _swapOne(pairs[i], feesBps[i], token, i + 1 < n ? pairs[i + 1] : address(this));
        }
    }

    function _swapHopsMem(address[] memory pairs, uint16[] memory feesBps, uint256 start, address tokenIn) private {
        address token = tokenIn;
        uint256 n = pairs.length;
        for (uint256 i = start; i < n; i++) {
            token = _swapOne(pairs[i], feesBps[i], token, i + 1 < n ? pairs[i + 1] : address(this));
        }
    }

    function _swapOne(address pair, uint16 feeBps, address tokenIn, address to) private returns (address tokenOut) {
        address t0 = IPairLike(pair).token0();
        address t1 = IPairLike(pair).token1();
        (uint112 r0, uint112 r1, ) = IPairLike(pair).getReserves();
        bool zeroForOne = tokenIn == t0;
        require(zeroForOne || tokenIn == t1, "ARB: token not in pair");
        (uint256 rIn, uint256 rOut) = zeroForOne ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        uint256 received = ITokenLike(tokenIn).balanceOf(pair) - rIn;
        uint256 inWithFee = received * (10000 - feeBps);
        uint256 out = (inWithFee * rOut) / (rIn * 10000 + inWithFee);
        require(out > 0, "ARB: zero out");
        IPairLike(pair).swap(zeroForOne ? 0 : out, zeroForOne ? out : 0, to, new bytes(0));
        tokenOut = zeroForOne ? t1 : t0;
    }
}
