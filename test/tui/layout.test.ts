import test from 'ava'
import { duration, shortId, wrapText } from '../../src/tui/format.ts'
import { allocateRows, scrollWindow } from '../../src/tui/layout.ts'
import { type Column, fitColumns, headerLine, rowLine } from '../../src/tui/table.ts'

const columns: Column<string>[] = [
  { title: 'NAME', min: 10, flex: 1, max: 20, priority: 0, cell: (r) => r },
  { title: 'A', min: 30, priority: 2, cell: () => 'a' },
  { title: 'B', min: 20, priority: 1, cell: () => 'b' },
  { title: 'C', min: 5, priority: 3, cell: () => 'c' },
]

test('columns that do not fit are dropped least important first, and a row never exceeds the width', (t) => {
  for (const width of [10, 25, 40, 62, 70, 100, 200]) {
    const fitted = fitColumns(columns, width)
    const line = rowLine(fitted, 'x'.repeat(50))
    t.true(line.length <= width, `width ${width}: ${line}`)
    t.true(headerLine(fitted).length <= width)
  }
  t.deepEqual(
    fitColumns(columns, 40).map((c) => c.title),
    ['NAME', 'B', 'C'],
    'A is dropped before C because C fits in what is left',
  )
  t.deepEqual(
    fitColumns(columns, 100).map((c) => [c.title, c.width]),
    [
      ['NAME', 20],
      ['A', 30],
      ['B', 20],
      ['C', 5],
    ],
    'the flexible column grows to its max',
  )
  t.regex(rowLine(fitColumns(columns, 33), 'a-very-long-workload-name'), /^a-very-long… b$/)
})

test('rows are shared among panes: the focused one first, the rest to the filler, never more than there is', (t) => {
  t.deepEqual(allocateRows(15, [4, 3, 40], 0, 2, 2), [4, 3, 8])
  t.deepEqual(allocateRows(15, [40, 40, 40], 1, 2, 2), [4, 7, 4])
  t.deepEqual(allocateRows(10, [1, 1, 1], 0, 2, 1), [1, 1, 8])
  for (const available of [0, 3, 7, 30]) {
    const rows = allocateRows(available, [50, 2, 9], 2, 2, 2)
    t.is(
      rows.reduce((a, b) => a + b, 0),
      Math.max(0, available),
    )
  }
})

test('the scroll window keeps the selection in view', (t) => {
  t.is(scrollWindow(10, 4, 0), 0)
  t.is(scrollWindow(10, 4, 5), 2)
  t.is(scrollWindow(10, 4, 9), 6)
  t.is(scrollWindow(3, 4, 2), 0)
})

test('ids, durations and wrapped text stay within their width', (t) => {
  t.is(shortId('12D3KooWAbCdEfGhIjKlMnOp', 8), '…jKlMnOp')
  t.is(shortId('peer-1', 8), 'peer-1')
  t.deepEqual([42, 1_234, 65_000, 7_320_000, 2 * 86_400_000 + 3_600_000].map(duration), [
    '42ms',
    '1.2s',
    '1m05s',
    '2h02m',
    '2d01h',
  ])
  t.is(duration(null), '-')
  t.deepEqual(wrapText('one two three four five', 9, 2), ['one two', 'three fo…'])
  t.deepEqual(wrapText('short', 9, 3), ['short'])
})
