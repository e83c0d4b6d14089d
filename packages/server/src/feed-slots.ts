/**
 * @module hallpass/server
 *
 * Subscriber slots of the revocation feed: a bound in total and a bound per client address, so
 * that one address (or one IPv6 /64, which a single host can fill with addresses) cannot hold
 * every slot and lock every other verifier out. A slot is a handle whose `release()` is
 * idempotent, so every path that ends a stream (close, error, reset, shutdown) may call it.
 */
import { isIPv4, isIPv6 } from 'node:net'

export interface FeedSlot {
  /** Gives the slot back; later calls do nothing. */
  release(): void
}

export type FeedSlotRefusal = 'total' | 'address'

export interface FeedSlots {
  /** A slot for a subscriber from `ip`, or why there is none. */
  acquire(ip: string): FeedSlot | FeedSlotRefusal
  /** Slots held in total. */
  readonly size: number
  /** Slots held by the address group of `ip`. */
  heldBy(ip: string): number
}

export function createFeedSlots(limits: { readonly maxSubscribers: number; readonly maxSubscribersPerAddress: number }): FeedSlots {
  const perAddress = new Map<string, number>()
  let size = 0
  return {
    acquire(ip) {
      if (size >= limits.maxSubscribers) return 'total'
      const key = addressGroup(ip)
      const held = perAddress.get(key) ?? 0
      if (held >= limits.maxSubscribersPerAddress) return 'address'
      perAddress.set(key, held + 1)
      size++
      let released = false
      return {
        release() {
          if (released) return
          released = true
          size--
          const left = (perAddress.get(key) ?? 1) - 1
          if (left === 0) perAddress.delete(key)
          else perAddress.set(key, left)
        },
      }
    },
    get size() {
      return size
    },
    heldBy: (ip) => perAddress.get(addressGroup(ip)) ?? 0,
  }
}

/**
 * The group an address counts under: an IPv4 address itself (also when written IPv4-mapped,
 * `::ffff:a.b.c.d`), an IPv6 address by its /64 (the prefix one host or one customer gets).
 * Anything else (a socket without an address) shares one group.
 */
export function addressGroup(ip: string): string {
  if (isIPv4(ip)) return ip
  if (!isIPv6(ip)) return 'unknown'
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  if (mapped !== null && isIPv4(mapped[1]!)) return mapped[1]!
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address, as lowercase hex without leading zeros. */
function expandIPv6(ip: string): string[] {
  const zone = ip.indexOf('%')
  let text = zone === -1 ? ip : ip.slice(0, zone)
  // A trailing dotted quad is the last 32 bits.
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0')
  return [...left, ...fill, ...right].map((group) => parseInt(group, 16).toString(16))
}
