/**
 * Server-sent events framing (the WHATWG event-stream format): the server's encoder and the client's
 * incremental parser.
 */

export interface SseMessage {
  /** The `event:` field; 'message' when absent. */
  event: string
  data: string
  /** The `id:` field of this message, if it had one. */
  id: string | undefined
}

/** One message; `data` may hold newlines (each line becomes a `data:` line). */
export function encodeSse(message: {
  event?: string | undefined
  id?: string | undefined
  data: string
}): string {
  let out = ''
  if (message.id !== undefined) out += `id: ${oneLine(message.id)}\n`
  if (message.event !== undefined) out += `event: ${oneLine(message.event)}\n`
  for (const line of message.data.split('\n')) out += `data: ${line}\n`
  return `${out}\n`
}

/** A comment line: ignored by clients, keeps the connection and the client's watchdog alive. */
export function encodeSseComment(text: string): string {
  return `: ${oneLine(text)}\n\n`
}

function oneLine(value: string): string {
  if (/[\r\n]/.test(value))
    throw new RangeError(`an SSE field cannot hold a line break: ${JSON.stringify(value)}`)
  return value
}

/** Feeds text as it arrives; returns the messages it completes. */
export class SseParser {
  #buffer = ''
  #event = ''
  #data: string[] = []
  #id: string | undefined
  #sawData = false
  #afterCr = false
  /** The id of the last complete message that had one: what a reconnect sends as Last-Event-ID. */
  lastEventId: string | undefined

  push(text: string): SseMessage[] {
    if (text === '') return []
    // A CR that ended the last chunk may be the first half of CRLF: its LF is not a second line end.
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1)
    this.#afterCr = false
    this.#buffer += text
    const out: SseMessage[] = []
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer)
      if (!match) break
      const line = this.#buffer.slice(0, match.index)
      this.#buffer = this.#buffer.slice(match.index + match[0].length)
      if (match[0] === '\r' && this.#buffer === '') this.#afterCr = true
      const message = this.#line(line)
      if (message) out.push(message)
    }
    return out
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') {
      const message = this.#sawData
        ? { event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id }
        : undefined
      if (message && this.#id !== undefined) this.lastEventId = this.#id
      this.#event = ''
      this.#data = []
      this.#id = undefined
      this.#sawData = false
      return message
    }
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (field) {
      case 'event':
        this.#event = value
        break
      case 'data':
        this.#data.push(value)
        this.#sawData = true
        break
      case 'id':
        if (!value.includes('\0')) this.#id = value
        break
      default:
        break // 'retry' and unknown fields: the client has its own backoff
    }
    return undefined
  }
}
