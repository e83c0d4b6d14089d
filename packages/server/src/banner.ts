// The one-screen banner `hallpass serve` prints at start: where things are, and curl commands
// that work as printed (each reads the tokens of the previous step from shell variables).
import type { Runtime } from './runtime.ts'

export function formatBanner(runtime: Runtime, listening: string, demoPassword: string | undefined, pages = false): string {
  const { config } = runtime.context
  const base = config.issuer
  const store = runtime.storeKind === 'sqlite' ? `sqlite (${config.databaseUrl.slice('sqlite:'.length)})` : runtime.storeKind
  const password = demoPassword ?? '<password>'
  const notices = [
    ...runtime.notices,
    ...(demoPassword !== undefined ? [`Created the demo user once: username "demo", password "${demoPassword}". Remove it with \`hallpass users remove demo\`.`] : []),
  ]
  const lines = [
    '',
    ...(pages ? [`Open ${base}/ to sign in and watch your session live (also ${base}/admin and ${base}/debugger)`, ''] : []),
    `hallpass is listening on ${listening}`,
    `  issuer      ${base}`,
    `  JWKS        ${base}/.well-known/jwks.json`,
    `  discovery   ${base}/.well-known/openid-configuration`,
    `  revocations ${base}/auth/revocations (Server-Sent Events)`,
    `  store       ${store}`,
    '',
    ...notices.map((notice) => `! ${notice}`),
    ...(notices.length > 0 ? [''] : []),
    'Try it (bash):',
    `  LOGIN=$(curl -s ${base}/auth/login -H 'content-type: application/json' -d '{"username":"demo","password":"${password}"}')`,
    `  ACCESS_TOKEN=$(echo "$LOGIN" | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    `  REFRESH_TOKEN=$(echo "$LOGIN" | sed -E 's/.*"refresh_token":"([^"]+)".*/\\1/')`,
    `  curl -s ${base}/auth/me -H "authorization: Bearer $ACCESS_TOKEN"; echo`,
    `  REFRESHED=$(curl -s ${base}/auth/refresh -H 'content-type: application/json' -d "{\\"refresh_token\\":\\"$REFRESH_TOKEN\\"}")`,
    `  REFRESH_TOKEN=$(echo "$REFRESHED" | sed -E 's/.*"refresh_token":"([^"]+)".*/\\1/')`,
    `  curl -s -o /dev/null -w '%{http_code}\\n' ${base}/auth/logout -H 'content-type: application/json' -d "{\\"refresh_token\\":\\"$REFRESH_TOKEN\\"}"`,
    '',
  ]
  return lines.join('\n')
}
