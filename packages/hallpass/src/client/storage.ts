// Where bearer mode keeps the refresh token. Cookie mode never sees it: the server keeps it in
// an HttpOnly cookie that no script can read.

/**
 * A place for the refresh token (bearer mode). What each choice risks:
 * - memory (the default): nothing outlives the process; a reload or restart signs the user out.
 * - `localStorage` / `AsyncStorage`: survives restarts, and any script running in the page (an
 *   XSS, a compromised dependency) can read it and keep the session alive elsewhere until the
 *   session ends or a replay is detected. Prefer cookie mode in browsers.
 * - the platform's keychain (React Native secure storage, an OS credential store): survives
 *   restarts and is out of reach of other apps; the right choice for native clients.
 */
export interface RefreshTokenStorage {
  get(): string | null | undefined | Promise<string | null | undefined>
  set(token: string | null): void | Promise<void>
}

/** Keeps the refresh token in this process's memory only. */
export function memoryStorage(): RefreshTokenStorage {
  let held: string | null = null
  return {
    get: () => held,
    set: (token) => {
      held = token
    },
  }
}
