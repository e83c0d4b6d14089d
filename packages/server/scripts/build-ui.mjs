// Builds the pages `hallpass serve` shows (sign-in and devices at /, /admin, /debugger) into
// dist/ui: one minified ES module per page, the stylesheet and the HTML shells, each with a
// gzip twin the server sends as is. Runs at `npm run build`; nothing is bundled at run time
// and nothing is loaded from elsewhere.
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const PACKAGE = fileURLToPath(new URL('..', import.meta.url))
const UI = join(PACKAGE, 'ui')
const OUT = join(PACKAGE, 'dist', 'ui')
const PAGES = ['account', 'admin', 'debugger']

await mkdir(OUT, { recursive: true })
const result = await build({
  entryPoints: Object.fromEntries(PAGES.map((page) => [page, join(UI, 'src', 'pages', `${page}.ts`)])),
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  splitting: true,
  chunkNames: 'shared-[hash]',
  outdir: OUT,
  write: false,
  legalComments: 'none',
  logLevel: 'warning',
})
const files = new Map(result.outputFiles.map((file) => [file.path.slice(OUT.length + 1), file.contents]))
files.set('styles.css', await readFile(join(UI, 'styles.css')))
for (const name of await readdir(join(UI, 'pages'))) files.set(name, await readFile(join(UI, 'pages', name)))
// Each file is written aside and renamed into place, so a server starting while a build runs
// (two test suites building at once) never reads half a file.
const written = new Set()
const put = async (name, contents) => {
  const aside = join(OUT, `.${name}.${process.pid}.tmp`)
  await writeFile(aside, contents)
  await rename(aside, join(OUT, name))
  written.add(name)
}
for (const [name, contents] of files) {
  await put(name, contents)
  await put(`${name}.gz`, gzipSync(contents, { level: 9 }))
}
// Chunks of earlier builds (their names carry a content hash) go.
for (const name of await readdir(OUT)) if (!name.startsWith('.') && !written.has(name)) await rm(join(OUT, name), { force: true })
