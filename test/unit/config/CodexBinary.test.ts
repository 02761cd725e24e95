// Where config `binary` points (PROTOCOL.md §6, issue 10): never the agent's workspace.
import { describe, expect, it } from "vitest"
import { resolveCodexBinary } from "../../../src/core/codex/CodexBinary.ts"

const exists = (files: ReadonlyArray<string>) => (f: string) => files.includes(f)

describe("resolveCodexBinary", () => {
  it("looks a bare name up on PATH, absolute entries only", () => {
    const env = { PATH: ".::bin:/usr/local/bin:/usr/bin" }
    expect(resolveCodexBinary("codex", "/p/config.json", env, exists(["/usr/bin/codex", "/usr/local/bin/codex"]))).toEqual({
      _tag: "Found",
      path: "/usr/local/bin/codex"
    })
    // "." "" and "bin" would be relative to the cwd, which for a turn is the workspace.
    const found = resolveCodexBinary("codex", "/p/config.json", env, (f) => !f.startsWith("/usr"))
    expect(found).toMatchObject({ _tag: "NotFound", path: "codex" })
  })

  it("resolves a relative path against the config file's directory", () => {
    expect(resolveCodexBinary("bin/codex", "/p/plugins/x/config.json", {}, exists(["/p/plugins/x/bin/codex"]))).toEqual({
      _tag: "Found",
      path: "/p/plugins/x/bin/codex"
    })
    expect(resolveCodexBinary("./codex", "/p/config.json", {}, () => false)).toMatchObject({
      _tag: "NotFound",
      path: "/p/codex"
    })
  })

  it("keeps an absolute path", () => {
    expect(resolveCodexBinary("/opt/codex", "/p/config.json", {}, exists(["/opt/codex"]))).toEqual({ _tag: "Found", path: "/opt/codex" })
  })
})
