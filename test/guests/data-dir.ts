/** A fresh host directory to preopen as a guest's /data, removed when the test ends. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'

export async function dataDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-guest-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}
