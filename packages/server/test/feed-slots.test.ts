// Subscriber slots of the revocation feed: the address groups (IPv4, IPv6 /64, mapped forms,
// junk) and the bounds, in total and per group, with idempotent release.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { addressGroup, createFeedSlots } from '../src/feed-slots.ts'

describe('feed slots', () => {
  test('addressGroup: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64, anything else one group', () => {
    assert.equal(addressGroup('203.0.113.9'), '203.0.113.9')
    assert.equal(addressGroup('::ffff:203.0.113.9'), '203.0.113.9')
    assert.equal(addressGroup('::FFFF:203.0.113.9'), '203.0.113.9')
    const group = addressGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd')
    assert.equal(group, '2001:db8:1:2::/64')
    // One host can use every address of its /64: they are one group, however they are written.
    for (const ip of ['2001:db8:1:2::1', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2:0:0:0:0', '2001:DB8:1:2::9', '2001:db8:1:2::1%eth0']) {
      assert.equal(addressGroup(ip), group, ip)
    }
    assert.notEqual(addressGroup('2001:db8:1:3::1'), group)
    assert.equal(addressGroup('::1'), '0:0:0:0::/64')
    assert.equal(addressGroup('2001:db8:1:2::192.0.2.1'), group)
    for (const junk of ['', 'localhost', '1.2.3', '::ffff:999.1.1.1', 'x'.repeat(1000), '1:2:3:4:5:6:7:8:9', '__proto__']) {
      assert.equal(addressGroup(junk), 'unknown', junk)
    }
  })

  test('bounds per group and in total; release is idempotent and frees the slot', () => {
    const slots = createFeedSlots({ maxSubscribers: 5, maxSubscribersPerAddress: 2 })
    const a1 = slots.acquire('10.0.0.1')
    const a2 = slots.acquire('::ffff:10.0.0.1')
    assert.equal(slots.acquire('10.0.0.1'), 'address')
    assert.equal(slots.heldBy('10.0.0.1'), 2)
    const b = [slots.acquire('2001:db8::1'), slots.acquire('2001:db8::2')]
    assert.equal(slots.acquire('2001:db8::3'), 'address')
    const c = slots.acquire('10.0.0.3')
    assert.equal(slots.size, 5)
    assert.equal(slots.acquire('10.0.0.4'), 'total')
    assert.ok(typeof a1 === 'object' && typeof a2 === 'object' && typeof c === 'object')
    a1.release()
    a1.release()
    assert.equal(slots.size, 4)
    assert.equal(slots.heldBy('10.0.0.1'), 1)
    assert.equal(typeof slots.acquire('10.0.0.1'), 'object')
    for (const slot of [a2, c, ...b]) if (typeof slot === 'object') slot.release()
    assert.equal(slots.size, 1)
  })
})
