// A readable device from a user agent string ("Chrome 131 on macOS"), by bowser: a maintained
// parser, bundled at build time.
import Bowser from 'bowser'

export function describeDevice(userAgent: string | undefined): string {
  if (userAgent === undefined || userAgent === '') return 'Unknown device'
  const parsed = Bowser.parse(userAgent)
  const browser = [parsed.browser.name, parsed.browser.version?.split('.')[0]].filter(Boolean).join(' ')
  const os = [parsed.os.name, parsed.os.versionName ?? parsed.os.version].filter(Boolean).join(' ')
  const type = parsed.platform.type !== undefined && parsed.platform.type !== 'desktop' ? ` (${parsed.platform.type})` : ''
  if (browser === '' && os === '') return userAgent.slice(0, 60)
  return `${browser || 'A browser'}${os !== '' ? ` on ${os}` : ''}${type}`
}
