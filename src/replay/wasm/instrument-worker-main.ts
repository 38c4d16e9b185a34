/** The worker of instrument-in-worker.ts: loads (checks, instruments, caches) one module and reports. */
import { parentPort, workerData } from 'node:worker_threads'
import { WASI_FUNCTIONS } from '../wasi/wasi-host.ts'
import { loadModule } from './module-loader.ts'

const { image, cacheDir, pausableImports } = workerData as {
  image: Uint8Array
  cacheDir: string
  pausableImports: string[]
}
const namespace = 'wasi_snapshot_preview1'
try {
  await loadModule(image, {
    supportedImports: { [namespace]: [...WASI_FUNCTIONS] },
    pausableImports: pausableImports.map((n) => `${namespace}.${n}`),
    cacheDir,
  })
  parentPort!.postMessage({ ok: true })
} catch (err) {
  const e = err as { code?: string; message?: string }
  parentPort!.postMessage({ ok: false, code: e.code ?? 'ERR_INSTRUMENT', message: e.message ?? String(err) })
}
