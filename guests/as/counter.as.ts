// counter: an AssemblyScript guest (WASI through @assemblyscript/wasi-shim).
//
// Reads lines from stdin and counts them into mutable globals: AssemblyScript keeps
// its module-level variables in wasm globals, so a checkpoint that forgot globals
// would lose this state. Each line also takes Date.now() (WASI clock_time_get) and
// Math.random() (seeded once through WASI random_get).
//
//   line            -> "line N words=W bytes=B sum=HEX roll=R elapsed_ms=E"
//   total           -> "total lines=N words=W bytes=B sum=HEX rolls=R"
//   quit            -> "bye", exit 0
//   exit N          -> "exit N", exit N
//   end of input    -> the total line, exit 0

let lines: i32 = 0
let words: i64 = 0
let bytes: i64 = 0
let checksum: u32 = 0x811c9dc5
let rollSum: i64 = 0
let startedMs: i64 = 0

function say(text: string): void {
  process.stdout.write(text + '\n')
}

function total(): string {
  return (
    'total lines=' +
    lines.toString() +
    ' words=' +
    words.toString() +
    ' bytes=' +
    bytes.toString() +
    ' sum=' +
    checksum.toString(16) +
    ' rolls=' +
    rollSum.toString()
  )
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0d
}

// Handles one line (its bytes, without the newline); returns false to stop.
function handle(start: usize, end: usize): bool {
  if (end > start && load<u8>(end - 1) == 0x0d) end--
  const text = String.UTF8.decodeUnsafe(start, end - start)
  lines++
  bytes += <i64>(end - start)
  let inWord = false
  for (let p = start; p < end; p++) {
    const c = load<u8>(p)
    checksum = (checksum ^ c) * 0x01000193
    if (isSpace(c)) inWord = false
    else if (!inWord) {
      inWord = true
      words++
    }
  }

  if (text == 'quit') {
    say('bye')
    return false
  }
  if (text.startsWith('exit ')) {
    const code = I32.parseInt(text.substring(5))
    say('exit ' + code.toString())
    process.exit(code)
    return false
  }
  if (text == 'total') {
    say(total())
    return true
  }
  const now = Date.now()
  const roll = <i32>Math.floor(Math.random() * 6) + 1
  rollSum += roll
  say(
    'line ' +
      lines.toString() +
      ' words=' +
      words.toString() +
      ' bytes=' +
      bytes.toString() +
      ' sum=' +
      checksum.toString(16) +
      ' roll=' +
      roll.toString() +
      ' elapsed_ms=' +
      (now - startedMs).toString(),
  )
  return true
}

function main(): void {
  startedMs = Date.now()
  say('counter ready')
  // Bytes of an unfinished line are kept at the front of `pending`.
  let pending = new ArrayBuffer(4096)
  let used = 0
  while (true) {
    if (used == pending.byteLength) {
      const bigger = new ArrayBuffer(pending.byteLength * 2)
      memory.copy(changetype<usize>(bigger), changetype<usize>(pending), used)
      pending = bigger
    }
    const n = process.stdin.read(pending, used)
    if (n == 0) break
    used += n
    const base = changetype<usize>(pending)
    let lineStart = 0
    for (let i = 0; i < used; i++) {
      if (load<u8>(base + i) != 0x0a) continue
      if (!handle(base + lineStart, base + i)) return
      lineStart = i + 1
    }
    memory.copy(base, base + lineStart, used - lineStart)
    used -= lineStart
  }
  if (used > 0) {
    const base = changetype<usize>(pending)
    if (!handle(base, base + used)) return
  }
  say(total())
}

main()
