// A Server-Sent Events parser (WHATWG HTML §9.2.6, "Interpreting an event stream") for text
// that arrives in arbitrary chunks. Lines end in CRLF, LF or CR (a CR at the end of one chunk
// and an LF at the start of the next are one line ending); a line starting with ":" is a
// comment; `data` lines accumulate; an empty line dispatches. Two bounds the spec leaves open
// keep a hostile or broken stream from growing memory without limit: the length of one line
// and of one event's data. Past either, the parser throws and the caller drops the connection.

export interface SseMessage {
  /** The `event` field, or `message` when none was given. */
  readonly type: string
  readonly data: string
  /** The last event ID as of this event (ids are sticky across events, per the spec). */
  readonly id: string | undefined
}

export interface SseParserHandlers {
  onMessage(message: SseMessage): void
  /** A valid `retry:` field, in milliseconds. */
  onRetry?(ms: number): void
}

export interface SseParser {
  /** Feeds decoded text. Throws `SseLimitExceeded` when a bound is crossed. */
  push(text: string): void
}

export class SseLimitExceeded extends Error {
  constructor(what: string) {
    super(`event stream ${what} exceeds its limit`)
    this.name = 'SseLimitExceeded'
  }
}

const LF = 0x0a
const CR = 0x0d

export function createSseParser(handlers: SseParserHandlers, limits: { maxLineLength: number; maxEventLength: number }): SseParser {
  let pending = ''
  let skipLeadingLf = false
  let data: string[] = []
  let dataLength = 0
  let eventType = ''
  let lastEventId: string | undefined

  function dispatch(): void {
    if (data.length === 0) {
      eventType = ''
      return
    }
    const message: SseMessage = { type: eventType === '' ? 'message' : eventType, data: data.join('\n'), id: lastEventId }
    data = []
    dataLength = 0
    eventType = ''
    handlers.onMessage(message)
  }

  function processLine(line: string): void {
    if (line.length > limits.maxLineLength) throw new SseLimitExceeded('line')
    if (line === '') return dispatch()
    if (line.charCodeAt(0) === 0x3a) return // ":" starts a comment (heartbeats)
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.charCodeAt(0) === 0x20) value = value.slice(1)
    switch (field) {
      case 'event':
        eventType = value
        return
      case 'data':
        dataLength += value.length + 1
        if (dataLength > limits.maxEventLength) throw new SseLimitExceeded('event data')
        data.push(value)
        return
      case 'id':
        // The spec ignores an id containing NULL.
        if (!value.includes('\0')) lastEventId = value === '' ? undefined : value
        return
      case 'retry':
        if (/^[0-9]{1,9}$/.test(value)) handlers.onRetry?.(Number(value))
        return
      default:
        // Unknown fields are ignored (spec).
        return
    }
  }

  return {
    push(text: string): void {
      let start = 0
      if (skipLeadingLf && text.charCodeAt(0) === LF) start = 1
      skipLeadingLf = false
      for (let i = start; i < text.length; i++) {
        const c = text.charCodeAt(i)
        if (c !== LF && c !== CR) continue
        const line = pending + text.slice(start, i)
        pending = ''
        if (c === CR) {
          if (i + 1 === text.length) skipLeadingLf = true
          else if (text.charCodeAt(i + 1) === LF) i++
        }
        start = i + 1
        processLine(line)
      }
      if (start < text.length) {
        pending += text.slice(start)
        if (pending.length > limits.maxLineLength) throw new SseLimitExceeded('line')
      }
    },
  }
}
