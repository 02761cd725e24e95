// Host tool names as codex and the model API accept them, mapped back on the call (PROTOCOL.md §7).
import { describe, expect, it } from "vitest"
import { exposeToolNames, VALID_TOOL_NAME } from "../../../src/core/bridge/ToolNames.ts"

describe("exposeToolNames", () => {
  it("keeps valid names as they are", () => {
    expect(exposeToolNames(["read_file", "web-search", "X1"])).toEqual([
      { original: "read_file", exposed: "read_file" },
      { original: "web-search", exposed: "web-search" },
      { original: "X1", exposed: "X1" }
    ])
  })

  it("renames dots, spaces, unicode and long names to valid, unique names", () => {
    const originals = ["fs.read", "fs read", "fs/read", "fs_read", "lesen-über", "🙂", "a".repeat(65), "a".repeat(200), "x".repeat(64)]
    const out = exposeToolNames(originals)
    expect(out.map((t) => t.original)).toEqual(originals)
    for (const t of out) expect(t.exposed, t.original).toMatch(VALID_TOOL_NAME)
    expect(new Set(out.map((t) => t.exposed)).size).toBe(originals.length)
    // Valid ones untouched, even when a renamed one would look like them.
    expect(out.find((t) => t.original === "fs_read")!.exposed).toBe("fs_read")
    expect(out.find((t) => t.original === "x".repeat(64))!.exposed).toBe("x".repeat(64))
    // Readable where possible.
    expect(out.find((t) => t.original === "fs.read")!.exposed.startsWith("fs_read_")).toBe(true)
  })

  it("never hands a renamed tool a name a valid host tool already has", () => {
    const renamed = exposeToolNames(["a.b"])[0]!.exposed
    const out = exposeToolNames(["a.b", renamed])
    expect(out[1]).toEqual({ original: renamed, exposed: renamed })
    expect(out[0]!.exposed).not.toBe(renamed)
    expect(out[0]!.exposed).toMatch(VALID_TOOL_NAME)
  })

  it("is stable across turns and independent of the other tools offered", () => {
    const alone = exposeToolNames(["fs.read"])[0]!.exposed
    const withOthers = exposeToolNames(["zzz", "fs.write", "fs.read"]).find((t) => t.original === "fs.read")!.exposed
    expect(withOthers).toBe(alone)
  })

  it("offers a repeated host name once", () => {
    expect(exposeToolNames(["t", "t.x", "t", "t.x"]).map((t) => t.original)).toEqual(["t", "t.x"])
  })
})
