/**
 * Versions of everything that shapes an instrumented module or a checkpoint.
 * The instrumented binary depends on binaryen and on our instrumentation, so
 * both are part of the module cache key and are checked on restore.
 */
import { createRequire } from 'node:module'

/** Bump whenever instrument.ts (or a pass it runs) changes what it emits. */
export const INSTRUMENTATION_VERSION = 1

export interface ToolVersions {
  binaryen: string
  node: string
  instrumentation: number
}

export function toolVersions(): ToolVersions {
  return { binaryen: binaryenVersion, node: process.versions.node, instrumentation: INSTRUMENTATION_VERSION }
}

const binaryenVersion = (createRequire(import.meta.url)('binaryen/package.json') as { version: string })
  .version
