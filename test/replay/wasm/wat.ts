/** Test modules written in the WebAssembly text format, assembled by binaryen. */
import binaryen from 'binaryen'

/** Assembles `text` with `features` (default: every feature, so tests can write what they reject). */
export function wat(text: string, features: number = binaryen.Features.All): Uint8Array {
  const module = binaryen.parseText(text)
  const debugInfo = binaryen.getDebugInfo()
  try {
    module.setFeatures(features)
    // Keep the name section, so errors can name functions as they would in a real build.
    binaryen.setDebugInfo(true)
    return module.emitBinary()
  } finally {
    binaryen.setDebugInfo(debugInfo)
    module.dispose()
  }
}

/** The WASI functions the test modules may import. */
export const WASI = ['fd_write', 'fd_read', 'proc_exit', 'clock_time_get', 'random_get']
