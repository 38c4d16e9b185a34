import { UnderstudyError } from '../errors/index.ts'

/** A step of `understudy demo` failed or timed out; the message says which and why. */
export class DemoError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_DEMO', message, options)
  }
}
