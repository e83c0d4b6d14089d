// Internals: the strict JSON object parser (duplicates, "__proto__", depth) and strict UTF-8.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeUtf8, MAX_JSON_DEPTH, parseJsonObject } from '../../../src/internal/strict-json.ts'

const parse = (text: string): Record<string, unknown> => parseJsonObject(text, 'payload')
const refuses = (text: string, reason: RegExp | string): void => {
  assert.throws(() => parse(text), (e: Error & { code?: string; reason?: string }) => {
    assert.equal(e.code, 'ERR_JWT_MALFORMED', text)
    if (typeof reason === 'string') assert.equal(e.reason, reason, text)
    else assert.match(e.reason!, reason, text)
    return true
  })
}

describe('parseJsonObject', () => {
  it('parses objects exactly like JSON.parse', () => {
    for (const text of [
      '{}', '{"a":1}', '{"a":{"b":[1,2,{"c":null}]},"d":"e"}', '{ "a" : 1 , "b" : [ ] }\n', '{"":0}', '{"a":"\\u0000\\"\\\\/\\b\\f\\n\\r\\t"}',
      '{"😀":"é","\\ud83d\\ude00x":1}', '{"a":1e400}', '{"a":-0}', '{"a":[[],[[]],{}]}',
    ]) {
      assert.deepEqual(parse(text), JSON.parse(text), text)
    }
  })

  it('refuses anything but a JSON object, naming what was parsed', () => {
    for (const text of ['', '[]', '[{}]', '"{}"', '1', 'null', 'true', ' {}', '\n{}', '\ufeff{}']) refuses(text, 'payload is not a JSON object')
    for (const text of ['{', '{]', '{"a"}', '{"a":}', '{"a":1,}', "{'a':1}", '{"a":1}x', '{"a":01}', '{"a":NaN}', '{"a":"\u0000"}', '{"a":"x}', '{"a\\":1}']) {
      refuses(text, /payload is not valid JSON|payload is not a JSON object/)
    }
    assert.throws(() => parseJsonObject('[]', 'header'), { reason: 'header is not a JSON object' })
  })

  it('refuses duplicate member names at any depth, however they are spelled', () => {
    for (const text of [
      '{"a":1,"a":1}', '{"a":1,"b":2,"a":3}', '{"a":1,"\\u0061":2}', '{"\\u0061":1,"\\u0061":2}', '{"a\\"":1,"a\\"":2}', '{"a\\\\":1,"a\\\\":2}',
      '{"x":{"a":1,"a":2}}', '{"x":[{"a":1,"a":2}]}', '{"x":[1,[{"y":{"a":1,"a":2}}]]}', '{"":1,"":2}', '{"😀":1,"\\ud83d\\ude00":2}',
    ]) {
      refuses(text, 'payload has duplicate member names')
    }
  })

  it('is not fooled by colons, quotes and backslashes inside strings', () => {
    for (const text of [
      '{"a":"b:c","d":":"}', '{"a:b":1,"a":2}', '{"a":"\\"","b":"\\\\"}', '{"a":"\\\\\\"","b":"x"}', '{"a":"\\\\","b":":"}', '{"k\\"ey":"v:a\\"l"}',
      '{"a":"{[:]}","b":["{:}"]}', '{"a\\\\":1,"a":2}', '{"a":"\\\\\\\\","b":"\\\\\\"\\\\"}',
    ]) {
      assert.deepEqual(parse(text), JSON.parse(text), text)
    }
    // A colon hidden in a string next to a duplicate must not balance the count.
    refuses('{"a":1,"a":":"}', 'payload has duplicate member names')
    refuses('{"a":"x\\":","a":1}', 'payload has duplicate member names')
  })

  it('refuses "__proto__" members anywhere, and keeps the prototype chain intact', () => {
    for (const text of ['{"__proto__":{}}', '{"__proto__":null}', '{"a":{"__proto__":{"x":1}}}', '{"a":[{"__proto__":1}]}', '{"\\u005f\\u005fproto\\u005f\\u005f":{}}']) {
      refuses(text, 'a member named "__proto__" is not accepted')
    }
    const ok = parse('{"constructor":{"prototype":{"x":1}},"prototype":1,"__proto":2,"proto__":3,"a":"__proto__"}')
    assert.equal(Object.getPrototypeOf(ok), Object.prototype)
    assert.equal(({} as Record<string, unknown>).x, undefined)
  })

  it(`bounds nesting at ${MAX_JSON_DEPTH} levels, before JSON.parse runs`, () => {
    assert.equal(MAX_JSON_DEPTH, 20)
    const nested = (depth: number, open = '[', close = ']'): string => `{"a":${open.repeat(depth - 1)}${close.repeat(depth - 1)}}`
    assert.ok(parse(nested(20)))
    refuses(nested(21), 'payload is nested too deeply')
    const objects = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
    assert.ok(parse(objects(20)))
    refuses(objects(21), 'payload is nested too deeply')
    // Brackets inside strings do not count; siblings do not add up.
    assert.ok(parse(`{"a":"${'['.repeat(100)}","b":${'['.repeat(19)}${']'.repeat(19)},"c":${'['.repeat(19)}${']'.repeat(19)}}`))
    // Unbalanced input is refused by depth or by JSON.parse, quickly, without recursion.
    const started = performance.now()
    refuses(`{"a":${'['.repeat(1_000_000)}`, 'payload is nested too deeply')
    refuses(`{"a":${'{"a":'.repeat(1_000_000)}`, 'payload is nested too deeply')
    refuses(`{"a":${']'.repeat(100_000)}}`, 'payload is not valid JSON')
    assert.ok(performance.now() - started < 1000)
  })

  it('refuses an unterminated string', () => {
    refuses('{"a', 'payload is not valid JSON')
    refuses('{"a":"\\"}', 'payload is not valid JSON')
    refuses('{"a":"\\\\\\"}', 'payload is not valid JSON')
  })
})

describe('decodeUtf8', () => {
  it('decodes valid UTF-8, keeping a BOM as a character', () => {
    assert.equal(decodeUtf8(Buffer.from('é😀{}'), 'payload'), 'é😀{}')
    assert.equal(decodeUtf8(new Uint8Array(0), 'payload'), '')
    assert.equal(decodeUtf8(Buffer.from([0xef, 0xbb, 0xbf, 0x7b]), 'payload'), '\ufeff{')
  })

  it('refuses invalid UTF-8 instead of replacing it', () => {
    for (const bytes of [[0xff], [0xc3], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0x7b, 0x80, 0x7d]]) {
      assert.throws(() => decodeUtf8(Buffer.from(bytes), 'header'), { code: 'ERR_JWT_MALFORMED', reason: 'header is not valid UTF-8' }, JSON.stringify(bytes))
    }
  })
})
