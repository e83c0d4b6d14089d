/**
 * @module bench/child-process
 *
 * The server under load runs in a child process (server.ts, verify.ts): started with a clean
 * environment, it prints `{"port":N}` as its first stdout line once listening, answers `cpu`
 * (and other requests) over IPC, and exits on `stop`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

const READY_TIMEOUT_MS = 90_000
const STOP_TIMEOUT_MS = 15_000
const ANSWER_TIMEOUT_MS = 5000

export interface BenchChild {
  readonly child: ChildProcess
  readonly base: string
  /** The last 8,000 characters of its stderr. */
  readonly stderr: () => string
}

/**
 * The caller's PATH, HOME, TMPDIR and UV_THREADPOOL_SIZE, plus `vars`: a HALLPASS_* variable of
 * the caller's shell must not change the run.
 */
export function cleanEnv(vars: Record<string, string>): Record<string, string> {
  const inherited = Object.fromEntries(
    ['PATH', 'HOME', 'TMPDIR', 'UV_THREADPOOL_SIZE'].flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]])),
  ) as Record<string, string>
  return { ...inherited, ...vars }
}

/** Starts `script` under tsx and waits for its port; `what` names it in errors ("the server"). */
export async function startChild(script: string, env: Record<string, string>, what: string, nodeArgs: readonly string[] = []): Promise<BenchChild> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000)
  })
  const lines = createInterface({ input: child.stdout! })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS)
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`${what} exited before listening (${signal ?? `code ${code}`})`))
      })
      lines.once('line', (line) => {
        clearTimeout(timer)
        try {
          const parsed = JSON.parse(line) as { port?: unknown }
          if (typeof parsed.port !== 'number' || parsed.port <= 0) throw new Error('no port')
          resolve(parsed.port)
        } catch {
          reject(new Error(`unexpected first line from ${what}: ${line.slice(0, 200)}`))
        }
      })
    })
    return { child, base: `http://127.0.0.1:${port}`, stderr: () => stderr }
  } catch (error) {
    await stopChild(child)
    throw new Error(`${(error as Error).message}\n${stderr}`, { cause: error })
  }
}

/** Asks the child to stop (SIGTERM without IPC), and kills it if it has not exited in 15 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  if (child.connected) child.send('stop')
  else child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS)
  })
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL')
    await exited
  }
  clearTimeout(timer)
}

/** Sends `request` over IPC and resolves with the first answer `pick` accepts. */
export function askChild<T>(child: ChildProcess, request: string, pick: (message: unknown) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage)
      reject(new Error(`the child process did not answer '${request}'`))
    }, ANSWER_TIMEOUT_MS)
    function onMessage(message: unknown): void {
      const value = pick(message)
      if (value === undefined) return
      clearTimeout(timer)
      child.off('message', onMessage)
      resolve(value)
    }
    child.on('message', onMessage)
    child.send(request)
  })
}

/** User and system CPU time of the child so far, in microseconds (all its threads). */
export function childCpu(child: ChildProcess): Promise<{ user: number; system: number }> {
  return askChild(child, 'cpu', (message) => {
    const cpu = (message as { cpu?: { user?: unknown; system?: unknown } } | null)?.cpu
    return typeof cpu?.user === 'number' && typeof cpu.system === 'number' ? { user: cpu.user, system: cpu.system } : undefined
  })
}
