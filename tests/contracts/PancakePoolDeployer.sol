// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

// Stand-in for PancakeV3PoolDeployer, whose artifact @pancakeswap/v3-core 1.0.2 does not
// ship. It deploys the package's genuine PancakeV3Pool creation code (stored once with
// setPoolCode) exactly as the real deployer does: CREATE2 salted by (token0, token1, fee),
// with parameters() answering the pool's constructor. The factory is the genuine
// PancakeV3Factory from the package.
contract PancakePoolDeployer {
    struct Parameters {
        address factory;
        address token0;
        address token1;
        uint24 fee;
        int24 tickSpacing;
    }

    Parameters public parameters;
    bytes internal poolCode;
    address public immutable owner;
    address public factoryAddress;

    constructor() {
        owner = msg.sender;
    }

    function setup(address factory_, bytes calldata code) external {
        require(msg.sender == owner && factoryAddress == address(0), "setup once");
        factoryAddress = factory_;
        poolCode = code;
    }

    function deploy(address factory, address token0, address token1, uint24 fee, int24 tickSpacing)
        external
        returns (address pool)
    {
        require(msg.sender == factoryAddress, "only factory");
        parameters = Parameters(factory, token0, token1, fee, tickSpacing);
        bytes memory code = poolCode;
        bytes32 salt = keccak256(abi.encode(token0, token1, fee));
        assembly {
            pool := create2(0, add(code, 32), mload(code), salt)
        }
        require(pool != address(0), "create2 failed");
        delete parameters;
    }
}
