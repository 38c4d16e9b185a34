import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import type { Entry, HardState } from '../../../src/agent/group/types.ts'

/** A fresh directory removed when the test ends. */
export function tempDir(t: ExecutionContext, prefix = 'us-store-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function entry(seq: number, epoch = 1, text = `e${seq}`): Entry {
  return { seq, epoch, kind: 'normal', data: new TextEncoder().encode(text) }
}

export function entries(from: number, to: number, epoch = 1): Entry[] {
  const out: Entry[] = []
  for (let seq = from; seq <= to; seq++) out.push(entry(seq, epoch))
  return out
}

export function hard(epoch: number, votedFor: string | undefined, commitSeq: number): HardState {
  return { epoch, votedFor, commitSeq }
}

export const bytes = (text: string) => new TextEncoder().encode(text)
