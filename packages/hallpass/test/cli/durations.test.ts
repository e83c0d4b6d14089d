// Unit tests of the CLI's duration parser: the one place a human duration becomes seconds,
// so every hostile spelling must fail with ERR_CONFIG_INVALID naming the flag.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatDuration, MAX_DURATION_SECONDS, parseDuration } from '../../src/internal/durations.ts'

describe('parseDuration', () => {
  test('parses each unit into seconds', () => {
    assert.equal(parseDuration('30s'), 30)
    assert.equal(parseDuration('10m'), 600)
    assert.equal(parseDuration('1h'), 3600)
    assert.equal(parseDuration('7d'), 604_800)
    assert.equal(parseDuration('0s'), 0)
    assert.equal(parseDuration('010m'), 600)
    assert.equal(parseDuration('3650d'), MAX_DURATION_SECONDS)
  })

  const hostile: ReadonlyArray<[string, unknown]> = [
    ['negative', '-5m'],
    ['explicit plus sign', '+5m'],
    ['exponent overflowing to Infinity', '1e999s'],
    ['exponent', '1e3s'],
    ['unknown unit', '10x'],
    ['no unit', '600'],
    ['unit only', 'm'],
    ['empty', ''],
    ['decimal', '1.5h'],
    ['leading space', ' 10m'],
    ['trailing newline', '10m\n'],
    ['inner space', '10 m'],
    ['unit word', '10min'],
    ['upper-case unit', '10M'],
    ['two units', '1h30m'],
    ['hex', '0x10s'],
    ['Infinity', 'Infinitys'],
    ['NaN', 'NaNs'],
    ['Arabic-Indic digits', '\u0661\u0660m'],
    ['fullwidth digits', '\uff11\uff10m'],
    ['11 digits', '12345678901s'],
    ['a number, not a string', 600],
    ['null', null],
    ['an object with toString', { toString: () => '10m' }],
  ]
  for (const [what, input] of hostile) {
    test(`refuses ${what}`, () => {
      assert.throws(() => parseDuration(input, { path: '--exp' }), (error: { code?: string; path?: string; message: string }) => {
        assert.equal(error.code, 'ERR_CONFIG_INVALID')
        assert.equal(error.path, '--exp')
        return true
      })
    })
  }

  test('names a default path when none is given', () => {
    assert.throws(() => parseDuration('soon'), { code: 'ERR_CONFIG_INVALID', path: 'duration' })
  })

  test('enforces the bounds, inclusively', () => {
    assert.equal(parseDuration('1s', { minSeconds: 1 }), 1)
    assert.throws(() => parseDuration('0s', { minSeconds: 1, path: '--exp' }), { code: 'ERR_CONFIG_INVALID', path: '--exp' })
    assert.equal(parseDuration('1d', { maxSeconds: 86_400 }), 86_400)
    assert.throws(() => parseDuration('86401s', { maxSeconds: 86_400 }), { code: 'ERR_CONFIG_INVALID' })
    assert.throws(() => parseDuration('25h', { maxSeconds: 86_400 }), { code: 'ERR_CONFIG_INVALID' })
  })

  test('the ceiling holds even when a caller asks for more', () => {
    assert.throws(() => parseDuration('3651d', { maxSeconds: Number.MAX_SAFE_INTEGER }), { code: 'ERR_CONFIG_INVALID' })
    // The largest 10-digit input in the largest unit is still refused, not rounded.
    assert.throws(() => parseDuration('9999999999d'), { code: 'ERR_CONFIG_INVALID' })
  })

  test('the bounds message reads as durations', () => {
    assert.throws(() => parseDuration('2d', { path: '--clock-tolerance', maxSeconds: 86_400 }), (error: { code?: string; path?: string; message: string }) => {
      assert.match(error.message, /between 0s and 1d/)
      return true
    })
  })
})

describe('formatDuration', () => {
  test('uses the largest exact unit and round-trips through parseDuration', () => {
    assert.equal(formatDuration(0), '0s')
    assert.equal(formatDuration(45), '45s')
    assert.equal(formatDuration(600), '10m')
    assert.equal(formatDuration(5400), '90m')
    assert.equal(formatDuration(7200), '2h')
    assert.equal(formatDuration(366 * 86_400), '366d')
    for (const seconds of [0, 1, 59, 60, 61, 3599, 3600, 86_399, 86_400, 90_000, MAX_DURATION_SECONDS]) {
      assert.equal(parseDuration(formatDuration(seconds)), seconds)
    }
  })
})
