/**
 * What the demo's client asks the kv guest, and what it must answer (the kv
 * protocol is in guests/kv/kv.c).
 */
export interface ScriptedRequest {
  request: string
  expected: string
}

export const CLIENT_SCRIPT: readonly ScriptedRequest[] = [
  { request: 'SET greeting hello from site-a', expected: 'OK' },
  { request: 'SET visits 0', expected: 'OK' },
  { request: 'INCR visits', expected: '1' },
  { request: 'INCR visits', expected: '2' },
  { request: 'INCR visits 10', expected: '12' },
  { request: 'GET visits', expected: '12' },
  { request: 'SET fruit apple', expected: 'OK' },
  { request: 'GET fruit', expected: 'apple' },
  { request: 'INCR stock 5', expected: '5' },
  { request: 'INCR stock -2', expected: '3' },
  { request: 'GET stock', expected: '3' },
  { request: 'GET missing', expected: 'NIL' },
  { request: 'SET fruit banana', expected: 'OK' },
  { request: 'GET fruit', expected: 'banana' },
  { request: 'INCR visits', expected: '13' },
  { request: 'DEL stock', expected: '1' },
  { request: 'KEYS', expected: '3 fruit greeting visits' },
  { request: 'GET greeting', expected: 'hello from site-a' },
  { request: 'INCR visits', expected: '14' },
  { request: 'PING', expected: 'PONG' },
]
