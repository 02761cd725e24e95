// The file and environment checks against real temp directories.
import { Effect } from "effect"
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { checkCodexHome, checkConfig, checkCredentials, checkSocketDir, checkStateDir, customProvider } from "../../../src/core/doctor/DoctorLocalChecks.ts"
import { socketDirFor } from "../../../src/core/bridge/SocketPath.ts"

const dirs: Array<string> = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "doctor-unit-"))
  dirs.push(d)
  return d
}
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true })
})
const run = <A>(e: Effect.Effect<A>) => Effect.runPromise(e)

describe("config check", () => {
  it("says defaults are in force when the file is missing", async () => {
    const path = join(tempDir(), "config.json")
    const { result, config } = await run(checkConfig(path))
    expect(result).toMatchObject({ status: "ok", detail: `${path} not found: defaults in force` })
    // The default "codex", resolved on PATH at load time when it is there (src/core/codex/CodexBinary.ts).
    expect(config.binary).toMatch(/^(codex|\/.*\/codex)$/)
  })

  it("fails naming the file and the field, and hands on the defaults so the other checks still run", async () => {
    const path = join(tempDir(), "config.json")
    writeFileSync(path, JSON.stringify({ binary: "/opt/codex", sandbox: "wide-open" }))
    const { result, config } = await run(checkConfig(path))
    expect(result.status).toBe("fail")
    expect(result.detail).toContain(path)
    expect(result.detail).toContain("sandbox")
    expect(config.binary).toBe("codex")
  })

  it("warns about unknown fields but passes the config on", async () => {
    const path = join(tempDir(), "config.json")
    writeFileSync(path, JSON.stringify({ binary: "/opt/codex", sandbx: "read-only" }))
    const { result, config } = await run(checkConfig(path))
    expect(result).toMatchObject({ status: "warn" })
    expect(result.detail).toContain("sandbx")
    expect(config.binary).toBe("/opt/codex")
  })
})

describe("CODEX_HOME check", () => {
  it("passes a missing directory the plugin can create at its start; fails one it cannot, with the mkdir to run", async () => {
    const creatable = join(tempDir(), "not", "yet", "codex")
    expect(await run(checkCodexHome(creatable))).toMatchObject({ status: "ok", detail: expect.stringContaining("creates it") })
    const blocker = join(tempDir(), "file")
    writeFileSync(blocker, "")
    const impossible = join(blocker, "codex")
    expect(await run(checkCodexHome(impossible))).toMatchObject({ status: "fail", fix: `mkdir -p ${impossible}` })
  })

  it("fails a file where the directory should be", async () => {
    const file = join(tempDir(), "codex")
    writeFileSync(file, "")
    expect((await run(checkCodexHome(file))).status).toBe("fail")
  })

  it("passes a writable directory", async () => {
    expect((await run(checkCodexHome(tempDir()))).status).toBe("ok")
  })

  it("warns when other users can enter it: codex's rollouts there (0644 under umask 022) are theirs to read", async () => {
    const open = tempDir()
    chmodSync(open, 0o755)
    expect(await run(checkCodexHome(open))).toMatchObject({ status: "warn", fix: `chmod 700 ${open}` })
  })
})

describe("credentials check", () => {
  it("finds auth.json and API key variables by presence, never printing a value", async () => {
    const home = tempDir()
    writeFileSync(join(home, "auth.json"), '{"OPENAI_API_KEY":"sk-file"}', { mode: 0o600 })
    chmodSync(join(home, "auth.json"), 0o600)
    const result = await run(checkCredentials(home, { CODEX_API_KEY: "sk-env" }, []))
    expect(result.status).toBe("ok")
    expect(result.detail).toContain("auth.json")
    expect(result.detail).toContain("CODEX_API_KEY is set")
    expect(JSON.stringify(result)).not.toContain("sk-")
  })

  it("warns when auth.json is readable by others", async () => {
    const home = tempDir()
    writeFileSync(join(home, "auth.json"), "{}")
    chmodSync(join(home, "auth.json"), 0o644)
    expect(await run(checkCredentials(home, {}, []))).toMatchObject({ status: "warn", fix: `chmod 600 ${join(home, "auth.json")}` })
  })

  it("is a warning, not a failure, when nothing is found", async () => {
    const result = await run(checkCredentials(tempDir(), {}, []))
    expect(result.status).toBe("warn")
    expect(result.fix).toContain("codex login")
  })

  it("is fine without credentials when extra_args choose another model provider", async () => {
    const args = ["-c", "model_provider=mock", "-c", 'model_providers.mock={name="mock"}']
    expect(customProvider(args)).toBe("mock")
    expect(customProvider(["--config=model_provider=\"ollama\""])).toBe("ollama")
    expect(customProvider(["-c", "model_providers.mock.base_url=x"])).toBeUndefined()
    expect((await run(checkCredentials(tempDir(), {}, args))).status).toBe("ok")
  })
})

describe("socket directory check", () => {
  it("is fine before the first turn made it", async () => {
    expect((await run(checkSocketDir(tempDir()))).status).toBe("ok")
  })

  it("passes 0700 and flags a wider mode with the chmod to run", async () => {
    const profile = tempDir()
    const dir = socketDirFor(profile)!
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    chmodSync(dir, 0o700)
    expect((await run(checkSocketDir(profile))).status).toBe("ok")
    chmodSync(dir, 0o755)
    expect(await run(checkSocketDir(profile))).toMatchObject({ status: "warn", fix: `chmod 700 ${dir}` })
  })

  it("fails a file squatting the directory's name", async () => {
    const profile = tempDir()
    const dir = socketDirFor(profile)!
    mkdirSync(join(dir, ".."), { recursive: true })
    writeFileSync(dir, "")
    expect((await run(checkSocketDir(profile))).status).toBe("fail")
  })
})

describe("state directory check", () => {
  it("passes a directory still to be made under a writable one, and fails a file in the way", async () => {
    const root = tempDir()
    const state = join(root, "plugins", "plexum-openai-provider", "state")
    expect(await run(checkStateDir(state))).toMatchObject({ status: "ok", detail: `${state} not created yet (${root} is writable)` })
    writeFileSync(join(root, "plugins"), "")
    expect(await run(checkStateDir(state))).toMatchObject({ status: "fail", fix: `move ${join(root, "plugins")} away` })
  })
})
