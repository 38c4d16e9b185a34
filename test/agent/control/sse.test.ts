import test from 'ava'
import { encodeSse, encodeSseComment, SseParser } from '../../../src/control/sse.ts'

test('messages split at any byte boundary parse the same as whole', (t) => {
  const text =
    encodeSse({ id: 'b-1', data: '{"a":1}' }) +
    encodeSseComment('heartbeat') +
    encodeSse({ event: 'gap', data: 'line one\nline two' }) +
    encodeSse({ id: 'b-2', event: 'message', data: '' })
  const whole = new SseParser().push(text)
  t.deepEqual(whole, [
    { event: 'message', data: '{"a":1}', id: 'b-1' },
    { event: 'gap', data: 'line one\nline two', id: undefined },
    { event: 'message', data: '', id: 'b-2' },
  ])
  for (let cut = 1; cut < text.length; cut++) {
    const parser = new SseParser()
    const got = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))]
    t.deepEqual(got, whole, `cut at ${cut}`)
    t.is(parser.lastEventId, 'b-2')
  }
})

test('CRLF and CR line endings are accepted, even with CRLF split across chunks', (t) => {
  const parser = new SseParser()
  const got = [...parser.push('id: 7\r\ndata: x\r'), ...parser.push('\n\r\ndata: y\r\r')]
  t.deepEqual(got, [
    { event: 'message', data: 'x', id: '7' },
    { event: 'message', data: 'y', id: undefined },
  ])
})

test('a message cut off by a dropped connection is not delivered and does not move the resume id', (t) => {
  const parser = new SseParser()
  t.deepEqual(parser.push(encodeSse({ id: 'b-1', data: 'ok' })), [
    { event: 'message', data: 'ok', id: 'b-1' },
  ])
  t.deepEqual(parser.push('id: b-2\ndata: half'), [])
  t.is(parser.lastEventId, 'b-1')
})

test('a field value cannot smuggle a line break into the stream', (t) => {
  t.throws(() => encodeSse({ id: 'a\nevent: evil', data: 'x' }), { instanceOf: RangeError })
})
