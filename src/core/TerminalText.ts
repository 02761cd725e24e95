/**
 * Text that came from files or from codex (config keys, registrations, tool output, error messages)
 * may hold terminal escape sequences. Before it reaches a terminal — `doctor`, `rollout inspect`,
 * stderr, or a host that prints `host/log` — it is escaped here: one function, used everywhere.
 */

const hex = (c: number, width: number) => c.toString(16).padStart(width, "0")

/** C0/C1 controls, DEL, line/paragraph separators and bidi overrides/isolates. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * Makes text safe to print: those characters become visible escapes (`\n`, `\x1b`, `\u202e`), so
 * the result is one line that cannot move the cursor, recolour or reorder what follows.
 */
export const escapeForTerminal = (s: string): string =>
  s.replace(UNSAFE, (ch) => {
    const c = ch.charCodeAt(0)
    if (c === 0x0a) return "\\n"
    if (c === 0x0d) return "\\r"
    if (c === 0x09) return "\\t"
    return c <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`
  })

/** `value` with every string in it (object keys too, at any depth) escaped; other values kept. */
export const escapeStringsDeep = (value: unknown, depth = 0): unknown => {
  if (typeof value === "string") return escapeForTerminal(value)
  if (depth > 32 || typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map((v) => escapeStringsDeep(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[escapeForTerminal(k)] = escapeStringsDeep(v, depth + 1)
  return out
}
