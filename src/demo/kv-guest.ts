/**
 * The kv guest's module, built through the project's cached guest builder when it is missing. The
 * builder lives in scripts/ (outside src/, so outside the build's rootDir): imported at run time.
 */
import { access } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export async function kvGuestPath(): Promise<string> {
  const built = fileURLToPath(new URL('../../guests/build/kv.wasm', import.meta.url))
  try {
    await access(built)
    return built
  } catch {
    const builder = new URL('../../scripts/build-guests.ts', import.meta.url).href
    const { buildGuest } = (await import(builder)) as { buildGuest(name: 'kv'): Promise<string> }
    return buildGuest('kv')
  }
}
