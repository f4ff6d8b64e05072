// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

// Our own helpers around the genuine concentrated-liquidity pools (Uniswap V3,
// PancakeSwap V3, Algebra V1), which are deployed from their npm bytecode.

interface IERC20V3 {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

interface IUniV3PoolMin {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256, uint256);
    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256, int256);
}

interface IAlgebraPoolMin {
    function mint(address sender, address recipient, int24 bottomTick, int24 topTick, uint128 amount, bytes calldata data)
        external
        returns (uint256, uint256, uint128);
}

/// @title PancakeSwap V3 pool deployer (ours: @pancakeswap/v3-core ships no
/// PancakeV3PoolDeployer artifact). Same interface and CREATE2 salt as the
/// real one (keccak256(abi.encode(token0, token1, fee))); the pool's creation
/// code is the genuine npm bytecode, read from `codeHolder` (a contract whose
/// runtime code is that creation code), so pool addresses follow from
/// keccak256(genuine PancakeV3Pool bytecode), as on BSC.
contract DevPancakeV3PoolDeployer {
    struct Parameters {
        address factory;
        address token0;
        address token1;
        uint24 fee;
        int24 tickSpacing;
    }

    Parameters public parameters;
    address public factoryAddress;
    address public immutable codeHolder;
    address private immutable _owner;

    constructor(address codeHolder_) {
        codeHolder = codeHolder_;
        _owner = msg.sender;
    }

    function setFactoryAddress(address factory_) external {
        require(msg.sender == _owner && factoryAddress == address(0), "DEPLOYER: FORBIDDEN");
        factoryAddress = factory_;
    }

    function deploy(address factory, address token0, address token1, uint24 fee, int24 tickSpacing)
        external
        returns (address pool)
    {
        require(msg.sender == factoryAddress, "DEPLOYER: NOT_FACTORY");
        parameters = Parameters(factory, token0, token1, fee, tickSpacing);
        address holder = codeHolder;
        bytes32 salt = keccak256(abi.encode(token0, token1, fee));
        assembly {
            let size := extcodesize(holder)
            let ptr := mload(0x40)
            extcodecopy(holder, ptr, 0, size)
            pool := create2(0, ptr, size, salt)
        }
        require(pool != address(0), "DEPLOYER: CREATE2");
        delete parameters;
    }
}

/// @title Liquidity and swap helper for the genuine V3-style pools.
/// @notice `mint` adds a position paid from this contract's own balance (the
/// deployer funds it); `swapExactIn` is a one-pool exact-input swap paid by the
/// caller (who approves this contract), used for noise on PancakeSwap V3 and
/// Algebra, which have no router on the devnet. kind: 1 Uniswap V3,
/// 2 PancakeSwap V3, 3 Algebra.
contract V3Helper {
    uint160 internal constant MIN_SQRT = 4295128740;
    uint160 internal constant MAX_SQRT = 1461446703485210103287273052203988822378723970341;

    address private _pool;
    address private immutable _owner;

    constructor() {
        _owner = msg.sender;
    }

    function mint(address pool, uint8 kind, int24 tickLower, int24 tickUpper, uint128 liquidity) external {
        require(msg.sender == _owner, "V3H: FORBIDDEN");
        _pool = pool;
        bytes memory data = abi.encode(address(this));
        if (kind == 3) {
            IAlgebraPoolMin(pool).mint(address(this), address(this), tickLower, tickUpper, liquidity, data);
        } else {
            IUniV3PoolMin(pool).mint(address(this), tickLower, tickUpper, liquidity, data);
        }
        _pool = address(0);
    }

    function swapExactIn(address pool, bool zeroForOne, uint256 amountIn, uint256 amountOutMin, address recipient)
        external
        returns (uint256 amountOut)
    {
        _pool = pool;
        (int256 a0, int256 a1) = IUniV3PoolMin(pool).swap(
            recipient,
            zeroForOne,
            int256(amountIn),
            zeroForOne ? MIN_SQRT : MAX_SQRT,
            abi.encode(msg.sender)
        );
        _pool = address(0);
        amountOut = uint256(-(zeroForOne ? a1 : a0));
        require(amountOut >= amountOutMin, "V3H: TOO_LITTLE");
    }

    function _pay(uint256 amount0, uint256 amount1, bytes calldata data) private {
        require(msg.sender == _pool, "V3H: CALLBACK");
        address payer = abi.decode(data, (address));
        if (amount0 > 0) _send(IUniV3PoolMin(msg.sender).token0(), payer, amount0);
        if (amount1 > 0) _send(IUniV3PoolMin(msg.sender).token1(), payer, amount1);
    }

    function _send(address token, address payer, uint256 amount) private {
        if (payer == address(this)) {
            require(IERC20V3(token).transfer(msg.sender, amount), "V3H: PAY");
        } else {
            require(IERC20V3(token).transferFrom(payer, msg.sender, amount), "V3H: PAY_FROM");
        }
    }

    function _payDeltas(int256 d0, int256 d1, bytes calldata data) private {
        _pay(d0 > 0 ? uint256(d0) : 0, d1 > 0 ? uint256(d1) : 0, data);
    }

    function uniswapV3MintCallback(uint256 a0, uint256 a1, bytes calldata data) external {
        _pay(a0, a1, data);
    }

    function pancakeV3MintCallback(uint256 a0, uint256 a1, bytes calldata data) external {
        _pay(a0, a1, data);
    }

    function algebraMintCallback(uint256 a0, uint256 a1, bytes calldata data) external {
        _pay(a0, a1, data);
    }

    function uniswapV3SwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _payDeltas(d0, d1, data);
    }

    function pancakeV3SwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _payDeltas(d0, d1, data);
    }

    function algebraSwapCallback(int256 d0, int256 d1, bytes calldata data) external {
        _payDeltas(d0, d1, data);
    }
}
