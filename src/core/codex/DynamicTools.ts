/**
 * The host's tools as a thread's dynamic tools (PROTOCOL.md §8, CODEX.md "`codex app-server`").
 * Names are made valid as for the MCP bridge (ToolNames.ts) and mapped back on the call. The flat
 * form `{name, description, inputSchema}` is sent: 0.135 takes only that one, later versions both.
 */
import type { DynamicToolContentItem } from "../../schemas/AppServerWire.ts"
import type { ToolResult, ToolSpec } from "../../schemas/Protocol.ts"
import { exposeToolNames } from "../bridge/ToolNames.ts"

export interface DynamicToolSpec {
  readonly name: string
  readonly description: string
  readonly inputSchema: Record<string, unknown>
}

export interface DynamicToolSet {
  readonly specs: ReadonlyArray<DynamicToolSpec>
  /** The host's name for a name the model called; unknown names pass through. */
  readonly hostName: (exposed: string) => string
  /**
   * Identifies the set as the model sees it. codex fixes a thread's dynamic tools when the thread
   * starts, so a turn whose key differs from its thread's cannot run on that thread.
   */
  readonly key: string
}

/** JSON with object keys sorted, so equal schemas give equal keys whatever their key order. */
const canonical = (u: unknown): string =>
  JSON.stringify(u, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v
  )

export const dynamicToolSet = (tools: ReadonlyArray<ToolSpec>): DynamicToolSet => {
  const exposed = exposeToolNames(tools.map((t) => t.name))
  const byExposed = new Map(exposed.map((e) => [e.exposed, e.original]))
  const byOriginal = new Map(exposed.map((e) => [e.original, e.exposed]))
  const seen = new Set<string>()
  const specs: Array<DynamicToolSpec> = []
  for (const tool of tools) {
    if (seen.has(tool.name)) continue // a repeated name keeps its first occurrence, as ToolNames does
    seen.add(tool.name)
    specs.push({ name: byOriginal.get(tool.name)!, description: tool.description ?? "", inputSchema: tool.inputSchema })
  }
  const key = canonical([...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
  return { specs, hostName: (name) => byExposed.get(name) ?? name, key }
}

/** The key of a thread that has no dynamic tools (one started by the exec engine, or with none). */
export const NO_TOOLS_KEY: string = dynamicToolSet([]).key

/** A host tool result as the answer to `item/tool/call`: errors as `success: false` with their text. */
export const toDynamicToolResponse = (
  result: ToolResult
): { readonly contentItems: ReadonlyArray<DynamicToolContentItem>; readonly success: boolean } => {
  const contentItems: Array<DynamicToolContentItem> = result.content.map((block) =>
    block.type === "text"
      ? { type: "inputText", text: block.text }
      : { type: "inputImage", imageUrl: `data:${block.mimeType};base64,${block.data}` }
  )
  if (contentItems.length === 0 && result.structuredContent !== undefined) {
    contentItems.push({ type: "inputText", text: JSON.stringify(result.structuredContent) })
  }
  return { contentItems, success: result.isError !== true }
}
