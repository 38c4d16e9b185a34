/**
 * The nemesis's clock for real agents: it stands still while an action runs. A restart waits for the
 * agent to be ready, which takes seconds on a loaded machine; on a plain clock the steps after it would
 * then run late and back to back (a 3 s SIGSTOP shrunk to nothing), and the next fault could land while
 * the restarted agent is not up yet (two sites out of three down). Here every fault keeps the hold the
 * schedule drew, and the run just lasts longer. The executed steps are mapped back to real time.
 */

import { sleep } from '../../src/demo/local-mesh.ts'
import type { ExecutedStep } from './lab/index.ts'

export class PausingClock {
  readonly #real: () => number
  /** Time spent inside actions so far: the clock did not move during it. */
  #paused = 0
  /** How long the current step's own action took (its start is before that pause). */
  #stepAction = 0

  /** `real`: the real time line (ms), the one executed steps are mapped back to. */
  constructor(real: () => number) {
    this.#real = real
  }

  now = (): number => this.#real() - this.#paused

  sleep = (ms: number, signal?: AbortSignal): Promise<void> => sleep(ms, signal)

  /** Wraps a step's action: the clock stands still while it runs. */
  action<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      const started = this.#real()
      try {
        return await fn(...args)
      } finally {
        const took = this.#real() - started
        this.#paused += took
        this.#stepAction += took
      }
    }
  }

  /** Wraps a lookup made before a step starts (resolving '@primary'): the clock stands still too. */
  lookup<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      const started = this.#real()
      try {
        return await fn(...args)
      } finally {
        this.#paused += this.#real() - started
      }
    }
  }

  /** The step just executed (runSchedule's onStep), on the real time line. Call once per step. */
  toReal(step: ExecutedStep): ExecutedStep {
    const real = {
      ...step,
      startedAt: step.startedAt + this.#paused - this.#stepAction,
      endedAt: step.endedAt + this.#paused,
    }
    this.#stepAction = 0
    return real
  }
}
