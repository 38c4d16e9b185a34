/**
 * Instruments a module in a worker thread, filling the disk cache, so the caller's event loop stays
 * free: binaryen runs synchronously for 0.3 s (30 KB) to 30 s (1 MB), and an agent that stalls that
 * long misses its heartbeats and loses its replica groups. A later loadModule() then hits the cache.
 */
import { Worker } from 'node:worker_threads'
import { InvalidModuleError, UnderstudyError } from '../../errors/index.ts'

export interface WarmOptions {
  cacheDir: string
  /** Import names of wasi_snapshot_preview1 the guest may block in. */
  pausableImports: readonly string[]
  signal?: AbortSignal
}

export function instrumentInWorker(image: Uint8Array, options: WarmOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./instrument-worker-main.ts', import.meta.url), {
      workerData: { image, cacheDir: options.cacheDir, pausableImports: [...options.pausableImports] },
    })
    const onAbort = () => void worker.terminate()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    worker.once('message', (m: { ok: true } | { ok: false; code: string; message: string }) => {
      options.signal?.removeEventListener('abort', onAbort)
      if (m.ok) resolve()
      else if (m.code === 'ERR_INVALID_MODULE') reject(new InvalidModuleError(m.message))
      else reject(new UnderstudyError(m.code, m.message))
    })
    worker.once('error', (err) => {
      options.signal?.removeEventListener('abort', onAbort)
      reject(err)
    })
    worker.once('exit', (code) => {
      if (code !== 0)
        reject(new UnderstudyError('ERR_INSTRUMENT_WORKER', `the instrumentation worker exited with ${code}`))
    })
  })
}
