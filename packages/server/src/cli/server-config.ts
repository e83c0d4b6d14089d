// Shared by `serve` and `users …`: the server configuration from `--config FILE` and the
// environment, validated the same way the server validates it.
import { CliError, readFileLimited } from 'hallpass/cli'
import { resolveConfig, type ServerConfig } from '../config.ts'

export const CONFIG_OPTION = { name: 'config', type: 'string', value: 'FILE', help: 'JSON config file (environment variables override it).' } as const

export async function loadServerConfig(path: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<ServerConfig> {
  let file: unknown
  if (path !== undefined) {
    const text = (await readFileLimited(path, 256 * 1024, 'config file')).toString('utf8')
    try {
      file = JSON.parse(text)
    } catch {
      throw new CliError(`${path} is not valid JSON`)
    }
  }
  return resolveConfig({ file, env })
}
