/**
 * JSON values from the host with bounded nesting and size, checked at the edge (PROTOCOL.md §2
 * -32602) so a hostile tool schema cannot reach code that recurses (JSON.stringify, codex's
 * TOML writer, the MCP SDK) and bring the plugin down. The walk itself is iterative.
 */
import { Schema } from "effect"

/** Deeper than any real JSON Schema; shallow enough for every recursive consumer. */
export const MAX_JSON_DEPTH = 64
/** Characters of keys and string values, and one per number, boolean or null. */
export const MAX_JSON_SIZE = 1024 * 1024

/** Why `value` is out of bounds, or undefined when it is within them. */
export const jsonBoundsProblem = (value: unknown, maxDepth = MAX_JSON_DEPTH, maxSize = MAX_JSON_SIZE): string | undefined => {
  const stack: Array<[unknown, number]> = [[value, 0]]
  let size = 0
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (depth > maxDepth) return `nested deeper than ${maxDepth} levels`
    if (typeof v === "string") size += v.length
    else if (v !== null && typeof v === "object") {
      if (Array.isArray(v)) for (const item of v) stack.push([item, depth + 1])
      else {
        for (const [k, item] of Object.entries(v)) {
          size += k.length
          stack.push([item, depth + 1])
        }
      }
    } else size += 1
    if (size > maxSize) return `larger than ${maxSize} characters`
  }
  return undefined
}

/** A JSON object whose nesting and size are bounded. */
export const BoundedJsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
  Schema.filter((v) => {
    const problem = jsonBoundsProblem(v)
    return problem === undefined ? true : `must be a JSON object ${problem}`
  })
)
