/**
 * Whether the machine's owner is using it. A desktop session hook (a login script, a screensaver or
 * systemd-logind idle hint handler) creates `<dataDir>/owner-active` while the owner is at the
 * machine and removes it when they leave; the agent looks once a second. A file keeps the agent free
 * of desktop-specific APIs and lets an admin (or a test) say "busy" by hand.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const OWNER_ACTIVE_FILE = 'owner-active'

export class OwnerActivity {
  readonly #path: string

  constructor(dataDir: string) {
    this.#path = join(dataDir, OWNER_ACTIVE_FILE)
  }

  get path(): string {
    return this.#path
  }

  /** The owner is at the machine now. */
  active(): boolean {
    return existsSync(this.#path)
  }
}
