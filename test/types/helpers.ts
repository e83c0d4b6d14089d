// Type-level assertions for the type tests of test/types. These files are checked by
// `npm run typecheck` (tsc) and never executed: a broken expectation is a compile error.
//
// - `Expect<Equals<A, B>>` at the top level of a file, gathered in exported tuples;
// - `expectType<Equals<A, B>>()` inside a function body, about a narrowed value;
// - `// @ts-expect-error <why>` above a line that must not compile (tsc fails when it does),
//   with values passed to `use()` rather than held in unused variables.

/**
 * True when A and B are the same type: not merely assignable either way (`any`, optional and
 * readonly members all count). The deferred conditional types compare by identity.
 */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false

/** Compiles only when T is exactly `true`. */
export type Expect<T extends true> = T

/** True when `K` is a key of `T`: the members an entry exports, the fields an option takes. */
export type HasKey<T, K extends PropertyKey> = K extends keyof T ? true : false

/** The statement form of `Expect`, for facts about a narrowed value inside a function body. */
export declare function expectType<T extends true>(): T extends true ? void : never

/**
 * Uses values, so that a line under `@ts-expect-error` fails only for the reason it states: an
 * unused variable there would be an error too and satisfy the directive on its own.
 */
export declare function use(...values: unknown[]): void

/** A value of type T, for arguments whose value does not matter (these files never run). */
export declare function value<T>(): T
