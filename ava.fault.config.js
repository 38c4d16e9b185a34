// The long suite (`npm run test:fault`, also run by CI): the fault lab's multi-process tests with real
// faults (run as root) and scale tests too slow or too heavy for `npm test`.
export default {
  files: ['test/fault/**/*.test.ts', 'test/scale/**/*.test.ts'],
  extensions: { ts: 'module' },
  workerThreads: false,
  timeout: '5m',
}
