// `npm start`: runs `hallpass serve` once the session server exists (issue 4); until then it
// says so and exits cleanly.
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

const server = new URL('../src/server/app.ts', import.meta.url)
if (!existsSync(server)) {
  console.log('hallpass: the session server is not built yet. The token engine and CLI are ready:')
  console.log('  npm run hallpass -- --help')
  process.exit(0)
}
const result = spawnSync(process.execPath, ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, 'serve', ...process.argv.slice(2)], { stdio: 'inherit' })
process.exit(result.status ?? 1)
