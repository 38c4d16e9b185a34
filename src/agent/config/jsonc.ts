/**
 * A strict parser for JSON with comments (`//` to end of line, `/* … *\/`), the format of
 * understudy's config file. Everything else is plain JSON: no trailing commas, no single
 * quotes, no duplicate keys. It reports the line and column of a syntax error (JSON.parse
 * does not always) and the position of every value, so a schema error can point at the line.
 */

/** Where a value starts in the text; both 1-based. */
export interface TextPosition {
  line: number
  column: number
}

export interface JsoncDocument {
  value: unknown
  /** Start of each value by its key path joined with '.' ('' is the whole document). */
  positions: Map<string, TextPosition>
}

/** A syntax error at a position. */
export class JsoncSyntaxError extends Error {
  readonly line: number
  readonly column: number
  readonly reason: string

  constructor(reason: string, position: TextPosition) {
    super(`${position.line}:${position.column}: ${reason}`)
    this.reason = reason
    this.line = position.line
    this.column = position.column
  }
}

const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const LITERALS: ReadonlyArray<readonly [string, unknown]> = [
  ['true', true],
  ['false', false],
  ['null', null],
]

/** Parses `text`; text holding only whitespace and comments is an empty object. */
export function parseJsonc(text: string): JsoncDocument {
  return new Parser(text).document()
}

class Parser {
  readonly text: string
  pos = 0
  readonly positions = new Map<string, TextPosition>()
  lineStarts: number[] | undefined

  constructor(text: string) {
    // A byte-order mark is not content.
    this.text = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  }

  document(): JsoncDocument {
    this.skip()
    if (this.pos === this.text.length) {
      this.positions.set('', { line: 1, column: 1 })
      return { value: {}, positions: this.positions }
    }
    const value = this.value([])
    this.skip()
    if (this.pos < this.text.length)
      this.fail(`unexpected ${this.describeHere()} after the end of the document`)
    return { value, positions: this.positions }
  }

  value(path: string[]): unknown {
    this.positions.set(path.join('.'), this.position(this.pos))
    const c = this.text[this.pos]
    if (c === '{') return this.object(path)
    if (c === '[') return this.array(path)
    if (c === '"') return this.string()
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number()
    for (const [word, literal] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length
        return literal
      }
    }
    if (c === "'") this.fail('strings must use double quotes')
    return this.fail(`expected a value, found ${this.describeHere()}`)
  }

  object(path: string[]): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    const seen = new Set<string>()
    this.pos++ // {
    this.skip()
    if (this.text[this.pos] === '}') {
      this.pos++
      return result
    }
    for (;;) {
      if (this.text[this.pos] !== '"') {
        if (this.text[this.pos] === '}') this.fail('trailing comma before }')
        this.fail(`expected a double-quoted key, found ${this.describeHere()}`)
      }
      const keyStart = this.pos
      const key = this.string()
      if (seen.has(key)) {
        this.pos = keyStart
        this.fail(`duplicate key "${key}"`)
      }
      seen.add(key)
      this.skip()
      if (this.text[this.pos] !== ':')
        this.fail(`expected ':' after key "${key}", found ${this.describeHere()}`)
      this.pos++
      this.skip()
      // defineProperty: a "__proto__" key becomes a plain (unknown) key, not the prototype.
      Object.defineProperty(result, key, {
        value: this.value([...path, key]),
        enumerable: true,
        writable: true,
        configurable: true,
      })
      this.skip()
      const c = this.text[this.pos]
      if (c === '}') {
        this.pos++
        return result
      }
      if (c !== ',')
        this.fail(`expected ',' or '}' after the value of "${key}", found ${this.describeHere()}`)
      this.pos++
      this.skip()
    }
  }

  array(path: string[]): unknown[] {
    const result: unknown[] = []
    this.pos++ // [
    this.skip()
    if (this.text[this.pos] === ']') {
      this.pos++
      return result
    }
    for (;;) {
      if (this.text[this.pos] === ']') this.fail('trailing comma before ]')
      result.push(this.value([...path, String(result.length)]))
      this.skip()
      const c = this.text[this.pos]
      if (c === ']') {
        this.pos++
        return result
      }
      if (c !== ',') this.fail(`expected ',' or ']' in a list, found ${this.describeHere()}`)
      this.pos++
      this.skip()
    }
  }

  string(): string {
    STRING.lastIndex = this.pos
    const match = STRING.exec(this.text)
    if (match == null) this.failString()
    this.pos += match[0].length
    return JSON.parse(match[0]) as string
  }

  number(): number {
    NUMBER.lastIndex = this.pos
    const match = NUMBER.exec(this.text)
    if (match == null) return this.fail(`malformed number`)
    this.pos += match[0].length
    return Number(match[0])
  }

  /** Whitespace and comments. */
  skip(): void {
    const text = this.text
    for (;;) {
      const c = text[this.pos]
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        this.pos++
      } else if (c === '/' && text[this.pos + 1] === '/') {
        const end = text.indexOf('\n', this.pos)
        this.pos = end === -1 ? text.length : end
      } else if (c === '/' && text[this.pos + 1] === '*') {
        const end = text.indexOf('*/', this.pos + 2)
        if (end === -1) this.fail('comment opened with /* is never closed')
        this.pos = end + 2
      } else {
        return
      }
    }
  }

  /** Finds what is wrong inside a string, to point at it. */
  failString(): never {
    for (let i = this.pos + 1; i < this.text.length; i++) {
      const code = this.text.charCodeAt(i)
      if (code === 0x22) break
      if (code === 0x0a) {
        this.pos = i
        this.fail('string is not closed before the end of the line')
      }
      if (code < 0x20) {
        this.pos = i
        this.fail('control character in a string (write it as an escape such as \\t)')
      }
      if (code === 0x5c) {
        if (!/^\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/.test(this.text.slice(i, i + 6))) {
          this.pos = i
          this.fail('invalid escape in a string')
        }
        i++
      }
    }
    return this.fail('string is not closed')
  }

  describeHere(): string {
    if (this.pos >= this.text.length) return 'the end of the file'
    return JSON.stringify(this.text[this.pos])
  }

  fail(reason: string): never {
    throw new JsoncSyntaxError(reason, this.position(this.pos))
  }

  position(offset: number): TextPosition {
    if (this.lineStarts == null) {
      this.lineStarts = [0]
      for (let i = this.text.indexOf('\n'); i !== -1; i = this.text.indexOf('\n', i + 1))
        this.lineStarts.push(i + 1)
    }
    // Last line start at or before offset.
    let lo = 0
    let hi = this.lineStarts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.lineStarts[mid]! <= offset) lo = mid
      else hi = mid - 1
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 }
  }
}
