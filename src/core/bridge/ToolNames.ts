/**
 * Host tool names as codex and the model API accept them (PROTOCOL.md §7). The
 * API wants `^[a-zA-Z0-9_-]{1,64}$`; a host name outside that is exposed under a
 * valid, unique, stable name and mapped back on the call.
 */
import { shortHash } from "./ServerName.ts"

export const VALID_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/
const MAX = 64
const HASH_CHARS = 8

export interface ExposedTool {
  /** The host's own name. */
  readonly original: string
  /** The name codex and the model see. */
  readonly exposed: string
}

const candidateFor = (original: string): string => {
  const readable = original.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, MAX - 1 - HASH_CHARS)
  return `${readable || "tool"}_${shortHash(original, HASH_CHARS)}`
}

/**
 * One entry per distinct host name, in order (a repeated name keeps its first
 * occurrence). Valid names are kept as they are and win over any renamed one; a
 * renamed name depends only on the original, so it stays the same across turns.
 */
export const exposeToolNames = (names: ReadonlyArray<string>): ReadonlyArray<ExposedTool> => {
  const distinct = [...new Set(names)]
  const taken = new Set(distinct.filter((n) => VALID_TOOL_NAME.test(n)))
  return distinct.map((original) => {
    if (VALID_TOOL_NAME.test(original)) return { original, exposed: original }
    const base = candidateFor(original)
    let exposed = base
    for (let i = 2; taken.has(exposed); i++) {
      const suffix = `_${i}`
      exposed = base.slice(0, MAX - suffix.length) + suffix
    }
    taken.add(exposed)
    return { original, exposed }
  })
}
