/** A host with a few imports for hand-written test modules; its snapshot is a fixed tag. */
import type { HostFunction, HostImports } from '../../../src/replay/wasm/index.ts'

export function tinyHost(
  imports: Record<string, HostFunction> = {},
): HostImports & { memory?: WebAssembly.Memory } {
  const host: HostImports & { memory?: WebAssembly.Memory } = {
    imports,
    setMemory(memory) {
      host.memory = memory
    },
    snapshot: () => new TextEncoder().encode('tiny-host'),
  }
  return host
}
