/** Running `ip` and `nft`: async for set-up and faults, sync for clean-up from signal and exit handlers. */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin']

/**
 * The system's binary, by absolute path: under npm/npx, node_modules/.bin comes first on PATH and
 * holds an unrelated `nft` (@vercel/nft).
 */
export function systemTool(name: string): string {
  for (const dir of SYSTEM_DIRS) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`
  }
  return name
}

export const IP = systemTool('ip')
export const NFT = systemTool('nft')

/** Runs a command; rejects with its stderr, so a failed `ip` or `nft` says what it refused. */
export function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || error.message}`))
      else resolve(stdout)
    })
    if (input !== undefined) child.stdin?.end(input)
  })
}

export function runSync(cmd: string, args: readonly string[], input?: string): string {
  const result = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 30_000 })
  return result.status === 0 ? result.stdout : ''
}

/** Runs `text` as a batch of `ip` commands inside `namespace` (or the host's, when undefined). */
export function ipBatch(namespace: string | undefined, lines: readonly string[]): Promise<string> {
  const text = `${lines.join('\n')}\n`
  if (namespace === undefined) return run(IP, ['-batch', '-'], text)
  return run(IP, ['netns', 'exec', namespace, IP, '-batch', '-'], text)
}

export function nft(namespace: string, ruleset: string): Promise<string> {
  return run(IP, ['netns', 'exec', namespace, NFT, '-f', '-'], ruleset)
}

export function netnsList(): string[] {
  return runSync(IP, ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '')
}

/** Kills (SIGKILL) every process inside `namespace`, then deletes it; errors are ignored (best effort). */
export function destroyNamespaces(namespaces: readonly string[]): void {
  if (namespaces.length === 0) return
  for (const ns of namespaces) {
    for (const pid of runSync(IP, ['netns', 'pids', ns]).split('\n')) {
      const n = Number(pid)
      if (!Number.isInteger(n) || n <= 1 || n === process.pid) continue
      try {
        process.kill(n, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  runSync(IP, ['-force', '-batch', '-'], `${namespaces.map((ns) => `netns del ${ns}`).join('\n')}\n`)
}

/** Whether we can build a lab here, and why not. */
export function labSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the fault lab needs root (network namespaces)' }
  for (const tool of ['ip', 'nft']) {
    if (!systemTool(tool).startsWith('/')) {
      return { ok: false, reason: `${tool} is not installed (run scripts/install-deps.sh)` }
    }
  }
  return { ok: true }
}
