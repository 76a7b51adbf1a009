#!/usr/bin/env node
// The installed entry point: the compiled CLI lives in dist/ (built by `npm run build`).
import { main } from '../dist/cli/main.js'

main(process.argv.slice(2))
