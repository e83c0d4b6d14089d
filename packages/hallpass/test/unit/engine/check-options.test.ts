// Internals: the shared option checks. Every failure is ERR_CONFIG_INVALID naming the path.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  checkFunction,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkStringList,
} from '../../../src/internal/options.ts'

const config = (path: string) => ({ code: 'ERR_CONFIG_INVALID', path })

describe('check-options', () => {
  it('checkKnownKeys: an object whose keys are all allowed', () => {
    checkKnownKeys({}, ['a'])
    checkKnownKeys({ a: 1, b: undefined }, ['a', 'b'])
    assert.throws(() => checkKnownKeys({ a: 1, c: 2 }, ['a']), config('c'))
    assert.throws(() => checkKnownKeys({ c: 2 }, ['a'], 'refresh.'), config('refresh.c'))
    assert.throws(() => checkKnownKeys({ constructor: 1 }, ['a']), config('constructor'))
    for (const value of [null, undefined, 1, 'a', [], [1]]) {
      assert.throws(() => checkKnownKeys(value as object, ['a']), config('options'))
      assert.throws(() => checkKnownKeys(value as object, ['a'], 'refresh'), config('refresh'))
    }
  })

  it('checkNonNegativeNumber: finite and >= 0, undefined passes', () => {
    assert.equal(checkNonNegativeNumber(undefined, 'p'), undefined)
    for (const value of [0, 0.5, 30, 1e9]) assert.equal(checkNonNegativeNumber(value, 'p'), value)
    for (const value of [-1, -0.001, Number.NaN, Infinity, '1', null, true, [1]]) assert.throws(() => checkNonNegativeNumber(value, 'p'), config('p'))
  })

  it('checkPositiveInteger: integer and > 0, undefined passes', () => {
    assert.equal(checkPositiveInteger(undefined, 'p'), undefined)
    for (const value of [1, 8192, Number.MAX_SAFE_INTEGER]) assert.equal(checkPositiveInteger(value, 'p'), value)
    for (const value of [0, -1, 1.5, Number.NaN, Infinity, '8', null]) assert.throws(() => checkPositiveInteger(value, 'p'), config('p'))
  })

  it('checkStringList: a non-empty string or non-empty array of non-empty strings, frozen', () => {
    assert.equal(checkStringList(undefined, 'p'), undefined)
    assert.deepEqual(checkStringList('a', 'p'), ['a'])
    const source = ['a', 'b']
    const list = checkStringList(source, 'p')!
    assert.deepEqual(list, ['a', 'b'])
    assert.ok(Object.isFrozen(list))
    source.push('c')
    assert.deepEqual(list, ['a', 'b'])
    for (const value of ['', [], [''], ['a', ''], [1], null, 1, { 0: 'a' }]) assert.throws(() => checkStringList(value, 'p'), config('p'))
  })

  it('checkFunction: a function, undefined passes', () => {
    const fn = (): number => 1
    assert.equal(checkFunction(fn, 'p'), fn)
    assert.equal(checkFunction(undefined, 'p'), undefined)
    for (const value of [null, 1, 'fn', {}]) assert.throws(() => checkFunction(value, 'p'), config('p'))
  })
})
