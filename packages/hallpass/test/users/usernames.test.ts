// Username normalisation: one account per name however it is spelled, nothing that is not text.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isHallpassError } from '../../src/index.ts'
import { normalizeUsername } from '../../src/users/usernames.ts'

test('equivalent spellings normalise to one name', () => {
  assert.equal(normalizeUsername('Alice'), 'alice')
  assert.equal(normalizeUsername('ＡＬＩＣＥ'), 'alice') // full-width (NFKC)
  assert.equal(normalizeUsername('  bob  '), 'bob')
  assert.equal(normalizeUsername('o\u0301scar'), 'óscar') // combining accent composes
  assert.equal(normalizeUsername('😀ok'), '😀ok')
})

test('hostile names are refused with a code', () => {
  for (const bad of ['', ' ', 'a b', 'a\u0000b', 'a\nb', 'a\u0085b', 'x\uD800', '\uDC00x', 'x'.repeat(129), 42, null, ['a']]) {
    assert.throws(() => normalizeUsername(bad), (error: unknown) => isHallpassError(error, 'ERR_SESSION_INPUT_INVALID'))
  }
})
