import test from 'ava'
import { assertStoreVersion, STORE_FORMAT_VERSION, WIRE_VERSIONS } from '../../../src/agent/config/index.ts'
import { STORE_FORMAT_VERSION as STORE_WRITES } from '../../../src/agent/store/agent-store.ts'
import { StoreVersionError } from '../../../src/errors/index.ts'

test('a store written by a newer understudy is refused with what to do', (t) => {
  const err = t.throws(() => assertStoreVersion(3, 2), { instanceOf: StoreVersionError })
  t.is(
    err.message,
    'this data directory was written by a newer understudy (store format 3, this build reads ≤ 2): ' +
      'upgrade understudy or point --data-dir elsewhere',
  )
  t.is(err.code, 'ERR_STORE_VERSION')
  t.is(err.found, 3)
  t.is(err.supported, 2)
  t.throws(() => assertStoreVersion(STORE_FORMAT_VERSION + 1), { instanceOf: StoreVersionError })
})

test('the current store is read, an older one is reported for migration', (t) => {
  t.is(assertStoreVersion(STORE_FORMAT_VERSION), 'current')
  t.is(assertStoreVersion(1, 2), 'older')
})

test('a store version that is not a version number is refused as damage', (t) => {
  for (const found of [0, -1, 1.5, '1', null, undefined, Number.NaN]) {
    const err = t.throws(() => assertStoreVersion(found, 2), { instanceOf: StoreVersionError })
    t.regex(err.message, /which is not a version number: the store is damaged/)
  }
})

test('the wire versions gathered here are the ones the layers encode', (t) => {
  for (const [name, version] of Object.entries(WIRE_VERSIONS)) {
    t.true(Number.isSafeInteger(version) && version >= 1, name)
  }
  t.true(Object.isFrozen(WIRE_VERSIONS))
})

test('the store format version here is the one the store writes', (t) => {
  t.is(STORE_FORMAT_VERSION, STORE_WRITES)
})
