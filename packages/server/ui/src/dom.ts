// Building the DOM without HTML strings: the pages run under Trusted Types, where no script may
// write markup as text, so every node is created and every value goes in as text.

type Child = Node | string | number | null | undefined | false
type Attributes = Record<string, string | number | boolean | ((event: Event) => void) | undefined>

/** `h('button', { class: 'danger', onclick: … }, 'Revoke')`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue
    if (typeof value === 'function') element.addEventListener(name.slice(2), value)
    else if (value === true) element.setAttribute(name, '')
    else element.setAttribute(name, String(value))
  }
  append(element, ...children)
  return element
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

/** Replaces the children of `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, ...children)
}

export function main(): HTMLElement {
  return document.getElementById('main')!
}

/** A definition list of label → value pairs. */
export function facts(rows: Array<[string, Child]>): HTMLDListElement {
  const list = h('dl', { class: 'facts' })
  for (const [label, value] of rows) append(list, h('dt', {}, label), h('dd', {}, value))
  return list
}

export function table(headers: string[], rows: Child[][], caption?: string): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      caption !== undefined ? h('caption', { class: 'muted' }, caption) : null,
      h('thead', {}, h('tr', {}, ...headers.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell))))),
    ),
  )
}

/** "3 min ago", "in 42 s": for times the reader compares with now. */
export function relative(ms: number, now = Date.now()): string {
  const seconds = Math.round((ms - now) / 1000)
  const size = Math.abs(seconds)
  const text = size < 60 ? `${size} s` : size < 3600 ? `${Math.round(size / 60)} min` : size < 86_400 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86_400)} d`
  return seconds >= 0 ? `in ${text}` : `${text} ago`
}

/** A date and time in the reader's locale, with the relative time. */
export function when(iso: string | number, now = Date.now()): string {
  const ms = typeof iso === 'number' ? iso : Date.parse(iso)
  if (Number.isNaN(ms)) return '—'
  return `${new Date(ms).toLocaleString()} (${relative(ms, now)})`
}

/** A button that disables itself while its action runs, and reports a failure in `status`. */
export function action(label: string, run: () => Promise<unknown>, status: Element, attributes: Attributes = {}): HTMLButtonElement {
  const button = h('button', { type: 'button', ...attributes }, label)
  button.addEventListener('click', () => {
    button.disabled = true
    run()
      .catch((error: unknown) => replace(status, h('span', { class: 'bad' }, describeError(error))))
      .finally(() => {
        button.disabled = false
      })
  })
  return button
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}

/** A live region: screen readers announce what is written into it. */
export function status(): HTMLElement {
  return h('p', { role: 'status', 'aria-live': 'polite' })
}
