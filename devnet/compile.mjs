// Runs solc-js (the npm `solc` package pinned in package.json) on a
// standard-JSON input read from stdin and prints the standard-JSON output.
// devnet/compile.py builds the input and writes the artifacts.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const solc = require('solc')
const input = readFileSync(0, 'utf8')
process.stdout.write(solc.compile(input))
