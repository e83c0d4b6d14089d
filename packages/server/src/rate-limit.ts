/**
 * @module hallpass/server
 *
 * Fixed-window rate limits for login and refresh, per IP and per username. In memory for one
 * instance; on Redis (one Lua script: INCR and set the window's expiry atomically) when Redis
 * is configured, so every instance behind the load balancer counts the same attempts.
 */
import type { Redis } from 'ioredis'
import { StoreUnavailable } from 'hallpass/errors'
import type { RateLimitRule } from './config.ts'

export interface RateLimitDecision {
  readonly allowed: boolean
  /** Seconds until the window resets (for `Retry-After`). */
  readonly retryAfterSeconds: number
}

export interface RateLimiter {
  consume(key: string, rule: RateLimitRule): Promise<RateLimitDecision>
  /** Forgets a key (a successful login clears the username's failures). */
  reset(key: string): Promise<void>
}

const MAX_MEMORY_KEYS = 100_000

export function createMemoryRateLimiter(now: () => number = Date.now): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>()
  return {
    consume(key, rule) {
      const at = now()
      let window = windows.get(key)
      if (window === undefined || window.resetAt <= at) {
        // Bound memory under a flood of distinct keys: drop expired windows, then the oldest.
        if (windows.size >= MAX_MEMORY_KEYS) {
          for (const [k, w] of windows) if (w.resetAt <= at) windows.delete(k)
          if (windows.size >= MAX_MEMORY_KEYS) windows.delete(windows.keys().next().value!)
        }
        window = { count: 0, resetAt: at + rule.windowSeconds * 1000 }
        windows.set(key, window)
      }
      window.count++
      return Promise.resolve({ allowed: window.count <= rule.max, retryAfterSeconds: Math.max(1, Math.ceil((window.resetAt - at) / 1000)) })
    },
    reset(key) {
      windows.delete(key)
      return Promise.resolve()
    },
  }
}

const CONSUME_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
`

export function createRedisRateLimiter(client: Redis, prefix = 'hp:rl:'): RateLimiter {
  return {
    async consume(key, rule) {
      try {
        const [count, ttl] = (await client.eval(CONSUME_SCRIPT, 1, prefix + key, String(rule.windowSeconds * 1000))) as [number, number]
        return { allowed: count <= rule.max, retryAfterSeconds: Math.max(1, Math.ceil(ttl / 1000)) }
      } catch (error) {
        throw unavailable('consume', error)
      }
    },
    async reset(key) {
      try {
        await client.del(prefix + key)
      } catch (error) {
        throw unavailable('reset', error)
      }
    },
  }
}

/**
 * A Redis failure of the limiter is the store's outage like any other: ERR_STORE_UNAVAILABLE,
 * so a 503 with Retry-After rather than a 500. ioredis attaches the command and its arguments
 * (the key names an address or a username) to its errors: only the message is kept.
 */
function unavailable(operation: string, error: unknown): StoreUnavailable {
  const message = error instanceof Error ? error.message : 'redis error'
  return new StoreUnavailable(`redis rate limit ${operation} failed`, { cause: new Error(message) })
}
