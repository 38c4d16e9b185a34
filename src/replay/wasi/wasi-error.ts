import { UnderstudyError } from '../../errors/index.ts'
import { errnoNames } from './wasi-constants.ts'

/**
 * A WASI call failed with `errno`. Thrown inside the host and by the virtual
 * disk; the import boundary turns it into the errno the guest sees.
 */
export class WasiError extends UnderstudyError {
  readonly errno: number

  constructor(errno: number, what?: string) {
    const name = errnoNames[errno] ?? String(errno)
    super('ERR_WASI_ERRNO', what === undefined ? `WASI errno ${name}` : `${what}: WASI errno ${name}`)
    this.errno = errno
  }
}

/** The guest called proc_exit. Not a failure: the run ended with `exitCode`. */
export class ProcExit extends UnderstudyError {
  readonly exitCode: number

  constructor(exitCode: number) {
    super('ERR_PROC_EXIT', `the guest exited with code ${exitCode}`)
    this.exitCode = exitCode
  }
}
