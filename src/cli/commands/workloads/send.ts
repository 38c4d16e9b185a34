/**
 * `understudy send NAME [TEXT…]` (alias `stdin`): text, or this command's own stdin, to the guest's
 * stdin through the primary, which logs it as an input entry.
 */
import type { StdinResponse } from '../../../control/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'

/** Raw bytes per request: base64 and JSON keep the body well under the agent's 1 MiB limit. */
export const MAX_STDIN_CHUNK = 256 << 10

interface SendFlags extends ConnectionFlags {
  verbose?: boolean
}

export function sendCommand() {
  return workloadCommand(
    'send',
    "write to a workload's stdin: the text given, else this command's stdin",
    (c) =>
      c
        .alias('stdin')
        .argument('<name>', 'the workload')
        .argument('[text...]', 'sent as one line (joined with spaces, ending in a newline)')
        .option('-v, --verbose', 'print the log entry that carries each piece'),
  ).action(
    apiAction(async (name: string, text: string[], flags: SendFlags) => {
      const link = await AgentLink.open(flags)
      const report = (sent: StdinResponse) => {
        if (flags.verbose) process.stdout.write(`entry ${sent.seq}: ${sent.accepted} bytes\n`)
      }
      const send = async (bytes: Uint8Array, eof: boolean) =>
        report(await link.call((c) => c.stdin(name, { data: Buffer.from(bytes).toString('base64'), eof })))

      if (text.length > 0) {
        const bytes = Buffer.from(`${text.join(' ')}\n`)
        for (const piece of pieces(bytes)) await send(piece, false)
        return
      }
      if (process.stdin.isTTY)
        process.stderr.write(`understudy: sending what you type to ${name}; Ctrl-D ends\n`)
      // Each read goes out at once (an interactive guest answers line by line); the end closes its stdin.
      for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
        for (const piece of pieces(chunk)) await send(piece, false)
      }
      await send(new Uint8Array(0), true)
    }),
  )
}

function* pieces(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += MAX_STDIN_CHUNK) yield bytes.subarray(at, at + MAX_STDIN_CHUNK)
}
