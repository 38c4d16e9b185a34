#!/usr/bin/env node
// Runs the compiled CLI when `npm run build` has produced dist/, else the
// TypeScript sources directly (Node >= 22.18 strips types natively).
import { existsSync } from 'node:fs'

const compiled = new URL('../dist/cli/main.js', import.meta.url)
const { main } = await import(existsSync(compiled) ? compiled.href : '../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
