import test from 'ava'
import { CorruptLogError, UnderstudyError } from '../src/errors/index.ts'

test('typed errors carry a stable code and their class name', (t) => {
  const err = new CorruptLogError('hash chain broken', 7)
  t.true(err instanceof UnderstudyError)
  t.is(err.code, 'ERR_CORRUPT_LOG')
  t.is(err.name, 'CorruptLogError')
  t.is(err.seq, 7)
})
