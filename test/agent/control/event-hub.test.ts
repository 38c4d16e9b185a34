import test from 'ava'
import { type ControlEvent, EventHub } from '../../../src/agent/control/index.ts'

const peer = (n: number) => ({ type: 'peer', peerId: `p${n}`, state: 'joined' }) as const
const peers = (events: ControlEvent[]) => events.map((e) => (e.type === 'peer' ? e.peerId : '?'))

test('events are numbered per boot and stamped with the injected clock', (t) => {
  let now = 100
  const hub = new EventHub({ bootId: 'b', now: () => now++ })
  t.like(hub.publish(peer(1)), { id: 'b-1', time: 100 })
  t.like(hub.publish(peer(2)), { id: 'b-2', time: 101 })
})

test('a resume returns exactly the events after the given id', (t) => {
  const hub = new EventHub({ bootId: 'b', capacity: 8 })
  for (let i = 1; i <= 5; i++) hub.publish(peer(i))
  const seen: ControlEvent[] = []
  const sub = hub.subscribe((e) => seen.push(e), { lastEventId: 'b-3' })
  t.is(sub.gap, undefined)
  t.deepEqual(peers(sub.events), ['p4', 'p5'])
  hub.publish(peer(6))
  t.deepEqual(peers(seen), ['p6'])
  sub.unsubscribe()
  hub.publish(peer(7))
  t.is(seen.length, 1)
  t.deepEqual(hub.subscribe(() => {}, { lastEventId: 'b-7' }).events, [])
})

test('a resume older than the ring, or from another boot, reports the gap and replays what is held', (t) => {
  const hub = new EventHub({ bootId: 'b', capacity: 3 })
  for (let i = 1; i <= 6; i++) hub.publish(peer(i))
  const old = hub.subscribe(() => {}, { lastEventId: 'b-1' })
  t.is(old.gap, 'overflow')
  t.deepEqual(peers(old.events), ['p4', 'p5', 'p6'])
  // b-3 is the last one whose successors are all held: no gap.
  const edge = hub.subscribe(() => {}, { lastEventId: 'b-3' })
  t.is(edge.gap, undefined)
  t.deepEqual(peers(edge.events), ['p4', 'p5', 'p6'])
  for (const id of ['a-2', 'b-99', 'garbage']) {
    t.is(hub.subscribe(() => {}, { lastEventId: id }).gap, 'restarted', id)
  }
})

test('a new subscriber gets the requested backlog, at most what the ring holds', (t) => {
  const hub = new EventHub({ bootId: 'b', capacity: 4 })
  for (let i = 1; i <= 6; i++) hub.publish(peer(i))
  t.deepEqual(peers(hub.subscribe(() => {}, { backlog: 2 }).events), ['p5', 'p6'])
  t.deepEqual(peers(hub.subscribe(() => {}, { backlog: 100 }).events), ['p3', 'p4', 'p5', 'p6'])
  t.deepEqual(hub.subscribe(() => {}).events, [])
})
