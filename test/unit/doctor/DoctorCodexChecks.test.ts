// The checks that ask codex, with a fake program runner standing in for codex.
import { Effect } from "effect"
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { checkCodexBinary, checkRegistrations } from "../../../src/core/doctor/DoctorCodexChecks.ts"
import { type ProgramOutput, ProgramFailed, type RunProgram } from "../../../src/core/doctor/DoctorRun.ts"
import { socketDirFor } from "../../../src/core/bridge/SocketPath.ts"

const dirs: Array<string> = []
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true })
})
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "doctor-codex-"))
  dirs.push(d)
  return d
}
const executable = (dir: string, name: string) => {
  const file = join(dir, name)
  writeFileSync(file, "#!/bin/sh\n")
  chmodSync(file, 0o755)
  return file
}
const answering =
  (out: Partial<ProgramOutput>): RunProgram =>
  () =>
    Effect.succeed({ exitCode: 0, stdout: "", stderr: "", ...out })
const stdio = (name: string, command: string, args: Array<string>, env: Record<string, string> | null = null) => ({
  name,
  enabled: true,
  transport: { type: "stdio", command, args, env, env_vars: [], cwd: null },
  startup_timeout_sec: null,
  tool_timeout_sec: null
})

describe("codex binary check", () => {
  it("finds codex on PATH and reports its version and why it runs", async () => {
    const bin = tempDir()
    const codex = executable(bin, "codex")
    const bundled = executable(tempDir(), "codex.js")
    const { path, result } = await Effect.runPromise(
      checkCodexBinary(undefined, "/p/config.json", { PATH: `/nowhere:${bin}` }, answering({ stdout: "codex-cli 0.169.0\n" }), { bundled: () => bundled })
    )
    expect(path).toBe(codex)
    expect(result).toMatchObject({ status: "ok", detail: `${codex} (codex-cli 0.169.0): codex on PATH (config sets no "binary")` })
  })

  it("names config binary as the reason when it is set", async () => {
    const codex = executable(tempDir(), "codex")
    const { result } = await Effect.runPromise(checkCodexBinary(codex, "/p/config.json", {}, answering({ stdout: "codex-cli 0.169.0\n" })))
    expect(result).toMatchObject({ status: "ok", detail: `${codex} (codex-cli 0.169.0): config "binary": "${codex}"` })
  })

  it("runs the codex installed with the plugin when there is none on PATH, and says so", async () => {
    const bundled = executable(tempDir(), "codex.js")
    const { path, result } = await Effect.runPromise(
      checkCodexBinary(undefined, "/p/config.json", { PATH: tempDir() }, answering({ stdout: "codex-cli 0.171.0\n" }), { bundled: () => bundled })
    )
    expect(path).toBe(bundled)
    expect(result.status).toBe("ok")
    expect(result.detail).toBe(`${bundled} (codex-cli 0.171.0): the codex installed with the plugin (config sets no "binary", and there is no codex on PATH)`)
  })

  it("fails when there is no codex on PATH nor with the plugin, suggesting install, a reinstall or the binary field", async () => {
    const { result } = await Effect.runPromise(
      checkCodexBinary(undefined, "/p/config.json", { PATH: tempDir() }, answering({}), { bundled: () => undefined })
    )
    expect(result.status).toBe("fail")
    expect(result.detail).toContain("no @openai/codex was installed with the plugin")
    expect(result.fix).toContain("npm install -g @openai/codex")
    expect(result.fix).toContain("without --omit=optional")
    expect(result.fix).toContain('"binary" in /p/config.json')
  })

  it("fails when config binary names a codex that is not on PATH, even with one installed with the plugin", async () => {
    const bundled = executable(tempDir(), "codex.js")
    const { result } = await Effect.runPromise(
      checkCodexBinary("codex", "/p/config.json", { PATH: tempDir() }, answering({}), { bundled: () => bundled })
    )
    expect(result.status).toBe("fail")
    expect(result.detail).toContain('(config "binary": "codex")')
    expect(result.fix).toContain('set "binary" in /p/config.json')
  })

  it("fails a file that is not executable", async () => {
    const file = join(tempDir(), "codex")
    writeFileSync(file, "")
    const { result } = await Effect.runPromise(checkCodexBinary(file, "/p/config.json", {}, answering({})))
    expect(result.status).toBe("fail")
    expect(result.detail).toContain(`${file} does not exist or is not executable`)
  })

  it("fails when --version does not work", async () => {
    const codex = executable(tempDir(), "codex")
    const stuck: RunProgram = (file) => Effect.fail(new ProgramFailed({ file, message: `${file} --version: did not finish within 20 s` }))
    const { path, result } = await Effect.runPromise(checkCodexBinary(codex, "/p/c.json", {}, stuck))
    expect(path).toBeUndefined()
    expect(result.detail).toContain("did not finish")
  })
})

describe("MCP registration check", () => {
  const profile = "/home/u/.plexum"
  const socket = join(socketDirFor(profile)!, "a.sock")

  it("checks only plexum-host-* servers: an earlier version's that can start is a warning (every codex starts it), FAIL when it is gone", async () => {
    const plugin = executable(tempDir(), "plexum-openai-provider-plugin")
    const list = [
      stdio("plexum-host-good", plugin, ["mcp-host"], { PLEXUM_MCP_SOCKET: socket }),
      stdio("plexum-host-gone", "/nonexistent/plugin", ["mcp-host"]),
      stdio("someone-else", "/nonexistent/other", [])
    ]
    const results = await Effect.runPromise(checkRegistrations("codex", "/h", profile, {}, answering({ stdout: JSON.stringify(list) })))
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ["mcp plexum-host-good", "warn"],
      ["mcp plexum-host-gone", "fail"]
    ])
    expect(results[1]!.fix).toContain("mcp remove plexum-host-gone")
  })

  it("fails a node launcher whose script is missing", async () => {
    const node = executable(tempDir(), "node")
    const list = [stdio("plexum-host-x", node, ["/nonexistent/main.cjs", "mcp-host"])]
    const [result] = await Effect.runPromise(checkRegistrations("codex", "/h", profile, {}, answering({ stdout: JSON.stringify(list) })))
    expect(result).toMatchObject({ status: "fail" })
    expect(result!.detail).toContain("script /nonexistent/main.cjs does not exist")
  })

  it("warns when a registration belongs to another profile's socket directory", async () => {
    const plugin = executable(tempDir(), "plugin")
    const list = [stdio("plexum-host-x", plugin, ["mcp-host"], { PLEXUM_MCP_SOCKET: "/elsewhere/sock/x.sock" })]
    const [result] = await Effect.runPromise(checkRegistrations("codex", "/h", profile, {}, answering({ stdout: JSON.stringify(list) })))
    expect(result!.status).toBe("warn")
  })

  it("says there are none yet, and fails on output that is not JSON or a failing codex", async () => {
    const none = await Effect.runPromise(checkRegistrations("codex", "/h", profile, {}, answering({ stdout: "[]" })))
    expect(none).toMatchObject([{ status: "ok" }])
    const garbage = await Effect.runPromise(checkRegistrations("codex", "/h", profile, {}, answering({ stdout: "nope" })))
    expect(garbage).toMatchObject([{ status: "fail" }])
    const broken = await Effect.runPromise(
      checkRegistrations("codex", "/h", profile, {}, answering({ exitCode: 1, stderr: "Error: bad config.toml" }))
    )
    expect(broken[0]!.detail).toContain("bad config.toml")
  })
})
