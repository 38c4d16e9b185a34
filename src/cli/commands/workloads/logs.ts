/**
 * `understudy logs NAME [--follow] [--from OFFSET]`: the workload's released output, byte for byte.
 * Also used by `run --attach`.
 */
import { InvalidArgumentError } from 'commander'
import type { LogChunk } from '../../../control/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'
import { interruptOnSignals, writeBytes } from './output.ts'

interface LogsFlags extends ConnectionFlags {
  follow?: boolean
  from: number
}

export function logsCommand() {
  return workloadCommand('logs', "print a workload's released output (what its clients were shown)", (c) =>
    c
      .argument('<name>', 'the workload')
      .option('-f, --follow', 'keep printing new output as it is released, until Ctrl-C')
      .option('--from <offset>', 'start at this byte offset of the output', parseOffset, 0),
  ).action(
    apiAction(async (name: string, flags: LogsFlags) => {
      const link = await AgentLink.open(flags)
      if (!flags.follow) {
        await printLogs(link, name, flags.from)
        return
      }
      const interrupt = interruptOnSignals()
      try {
        await followLogs(link, name, flags.from, interrupt.signal)
      } finally {
        interrupt.dispose()
      }
    }),
  )
}

/** The output released so far, from `from` on. */
export async function printLogs(link: AgentLink, name: string, from: number, out = process.stdout) {
  const cursor = new OutputCursor(from)
  for (;;) {
    const asked = cursor.next
    const answer = await link.call((c) => c.logs(name, { from: asked }))
    for (const chunk of answer.chunks) await writeBytes(out, cursor.take(chunk))
    cursor.advanceTo(answer.next)
    // An answer stops at the agent's size limit: ask again until one brings nothing new.
    if (answer.chunks.length === 0 || cursor.next <= asked) return
  }
}

/**
 * Prints output as it is released until `signal` aborts (then returns normally) or the workload
 * ends. A dropped connection is retried for as long as it takes, resuming at the right byte; an
 * agent that never answered at all fails at once with the helpful message.
 */
export async function followLogs(
  link: AgentLink,
  name: string,
  from: number,
  signal: AbortSignal,
  out = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
) {
  const cursor = new OutputCursor(from)
  let connected = false
  let lost = false
  try {
    for await (const item of link.client.followLogs(name, { from, signal })) {
      if (item.type === 'chunk') {
        await writeBytes(out, cursor.take(item.chunk), signal)
      } else if (item.state === 'connected') {
        if (lost) err.write('understudy: reconnected to the agent\n')
        connected = true
        lost = false
      } else {
        if (!connected) throw link.unreachable(item.error)
        lost = true
        err.write(`understudy: lost the agent (${item.error.message}); reconnecting…\n`)
      }
    }
  } catch (e) {
    if (signal.aborted) return
    throw e
  }
}

/** Where the printed output has got to; bytes before it (a repeat after a resume) are not printed twice. */
class OutputCursor {
  next: number

  constructor(from: number) {
    this.next = from
  }

  take(chunk: LogChunk): Uint8Array {
    const bytes = Buffer.from(chunk.data, 'base64')
    const skip = Math.min(bytes.length, Math.max(0, this.next - chunk.offset))
    this.next = Math.max(this.next, chunk.offset + bytes.length)
    return bytes.subarray(skip)
  }

  advanceTo(offset: number) {
    this.next = Math.max(this.next, offset)
  }
}

function parseOffset(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('a byte offset (0 or more)')
  return n
}
