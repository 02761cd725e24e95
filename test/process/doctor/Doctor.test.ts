// `doctor` through the built executable as a user runs it, with stdout piped: one plain line per
// check, exit 1 when a check fails, and the line that failed says what and where.
import { execFileSync, spawnSync } from "node:child_process"
import { realpathSync } from "node:fs"
import { copyFile, mkdir, rename, writeFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { OLDEST_TESTED_CODEX, PINNED_CODEX } from "../../../src/core/codex/CodexVersionRange.ts"
import { codexBin, makeTempCodexHome, pinnedCodexBin } from "../../support/CodexOffline.ts"
import { makeProfile, pluginBin } from "../../support/ReferenceHost.ts"

// node on PATH (the executable's shebang needs it) but no codex there.
const BASE_PATH = [dirname(process.execPath), "/usr/bin", "/bin"].join(":")

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const setup = async (config?: unknown) => {
  const profile = await makeProfile(config)
  const home = await makeTempCodexHome()
  cleanups.push(profile.cleanup, home.cleanup)
  return { profile: profile.root, codexHome: home.dir }
}

const doctor = (env: Record<string, string>, executable: string = pluginBin) => {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !["OPENAI_API_KEY", "CODEX_API_KEY", "NO_COLOR", "FORCE_COLOR"].includes(k))
  )
  const r = spawnSync(executable, ["doctor"], {
    env: { ...clean, PATH: BASE_PATH, ...env },
    encoding: "utf8",
    timeout: 45_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stdout.split("\n") }
}

const lineOf = (lines: ReadonlyArray<string>, prefix: string) => lines.find((l) => l.startsWith(prefix))

/** The `fix:` line right after the check line starting with `prefix`. */
const fixOf = (lines: ReadonlyArray<string>, prefix: string) => {
  const i = lines.findIndex((l) => l.startsWith(prefix))
  return i >= 0 && lines[i + 1]?.trim().startsWith("fix:") ? lines[i + 1]!.trim() : undefined
}

const mcpAdd = (codexHome: string, name: string, command: ReadonlyArray<string>) =>
  execFileSync(codexBin, ["mcp", "add", name, "--env", "PLEXUM_MCP_AGENT_ID=x", "--", ...command], {
    env: { ...process.env, CODEX_HOME: codexHome },
    stdio: "ignore"
  })

describe("doctor", () => {
  it("passes a healthy set-up: the real codex, a writable CODEX_HOME; an earlier version's registration and no login are only warnings", async () => {
    const { profile, codexHome } = await setup({ binary: codexBin })
    mcpAdd(codexHome, "plexum-host-healthy", [pluginBin, "mcp-host"])
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).not.toContain("\x1b")
    expect(lineOf(r.lines, "ok   config:")).toContain("is valid")
    expect(lineOf(r.lines, "ok   codex binary:")).toMatch(/codex-cli \d+\.\d+\.\d+/)
    expect(lineOf(r.lines, "ok   CODEX_HOME:")).toContain(codexHome)
    expect(lineOf(r.lines, "warn credentials:")).toContain("auth.json")
    expect(lineOf(r.lines, "warn mcp plexum-host-healthy:")).toContain(`${pluginBin} mcp-host`)
    expect(fixOf(r.lines, "warn mcp plexum-host-healthy:")).toContain("removes it on its next turn")
    expect(lineOf(r.lines, "ok   socket directory:")).toBeDefined()
    expect(r.lines.some((l) => l.startsWith("FAIL"))).toBe(false)
  })

  /** A codex that answers `--version` with `version` and lists no MCP servers. */
  const fakeCodex = async (root: string, version: string) => {
    const file = join(root, `codex-${version}`)
    await writeFile(
      file,
      `#!/bin/sh\ncase "$1" in\n  --version) echo "codex-cli ${version}" ;;\n  mcp) echo "[]" ;;\n  *) exit 2 ;;\nesac\n`,
      { mode: 0o755 }
    )
    return file
  }

  it.each([
    ["inside the range", PINNED_CODEX, 0, "ok   codex version:", "inside the tested range"],
    ["newer than the range", "9.0.0", 0, "warn codex version:", "newer than the tested range"],
    ["older than the range", "0.100.0", 0, "warn codex version:", "older than the tested range"]
  ] as const)("reports a codex %s against the tested range", async (_, version, exitCode, prefix, says) => {
    const { profile, codexHome } = await setup()
    const binary = await fakeCodex(profile, version)
    await writeFile(join(profile, "plugins", "plexum-openai-provider", "config.json"), JSON.stringify({ binary }))
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome })
    expect(r.code, r.stdout + r.stderr).toBe(exitCode)
    const line = lineOf(r.lines, prefix)
    expect(line).toContain(says)
    expect(line).toContain(`${OLDEST_TESTED_CODEX} … ${PINNED_CODEX}`)
    if (version === "9.0.0") expect(fixOf(r.lines, prefix)).toContain("npm run compat -- 9.0.0")
    if (version === "0.100.0") expect(fixOf(r.lines, prefix)).toContain(`npm install -g @openai/codex@${PINNED_CODEX}`)
  })

  it("with no binary set and no codex on PATH runs the codex installed with the plugin, and says so", async () => {
    const { profile, codexHome } = await setup()
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const line = lineOf(r.lines, "ok   codex binary:")
    expect(line).toContain(`${realpathSync(pinnedCodexBin)} (codex-cli ${PINNED_CODEX})`)
    expect(line).toContain('the codex installed with the plugin (config sets no "binary", and there is no codex on PATH)')
    expect(lineOf(r.lines, "ok   codex version:")).toContain(`codex ${PINNED_CODEX} is inside the tested range`)
    expect(lineOf(r.lines, "ok   mcp registrations:")).toBeDefined()
    // A codex on PATH comes first.
    const onPath = await fakeCodex(profile, "9.0.0")
    const dir = join(profile, "path-bin")
    await mkdir(dir)
    await rename(onPath, join(dir, "codex"))
    const withPath = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome, PATH: `${dir}:${BASE_PATH}` })
    expect(lineOf(withPath.lines, "ok   codex binary:")).toBe(`ok   codex binary: ${join(dir, "codex")} (codex-cli 9.0.0): codex on PATH (config sets no "binary")`)
    expect(lineOf(withPath.lines, "warn codex version:")).toContain(`newer than the tested range ${OLDEST_TESTED_CODEX} … ${PINNED_CODEX}`)
  })

  it("fails when codex is neither on PATH nor installed with the plugin, and says how to install it or set binary", async () => {
    const { profile, codexHome } = await setup()
    // A copy of the executable with no node_modules around it: as installed with --omit=optional.
    const install = join(profile, "install")
    await mkdir(join(install, "bin"), { recursive: true })
    await mkdir(join(install, "dist"))
    await copyFile(pluginBin, join(install, "bin", basename(pluginBin)))
    await copyFile(join(dirname(pluginBin), "..", "dist", "main.cjs"), join(install, "dist", "main.cjs"))
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome }, join(install, "bin", basename(pluginBin)))
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, "FAIL codex binary:")).toContain("`codex` is not on PATH (absolute PATH entries only), and no @openai/codex was installed with the plugin")
    const fix = fixOf(r.lines, "FAIL codex binary:")
    expect(fix).toContain(`npm install -g @openai/codex@${PINNED_CODEX}`)
    expect(fix).toContain("without --omit=optional")
    expect(lineOf(r.lines, "skip mcp registrations:")).toBeDefined()
    expect(r.stderr).toContain("1 check(s) failed")
  })

  it("fails when the configured binary does not exist, naming it", async () => {
    const { profile, codexHome } = await setup({ binary: "/nonexistent/bin/codex" })
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome })
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, "FAIL codex binary:")).toContain("/nonexistent/bin/codex does not exist")
    expect(fixOf(r.lines, "FAIL codex binary:")).toContain('"binary"')
  })

  it("fails on a broken config, naming the file and the field, and still checks the rest with defaults", async () => {
    const { profile, codexHome } = await setup({ binary: codexBin, turn_timeout_ms: "soon" })
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome, PATH: `${dirname(codexBin)}:${BASE_PATH}` })
    expect(r.code).toBe(1)
    const line = lineOf(r.lines, "FAIL config:")
    expect(line).toContain(join(profile, "plugins", "plexum-openai-provider", "config.json"))
    expect(line).toContain("turn_timeout_ms")
    expect(lineOf(r.lines, "ok   codex binary:")).toBeDefined()
  })

  it("fails a registration whose command is missing, and says how to remove it", async () => {
    const { profile, codexHome } = await setup({ binary: codexBin })
    mcpAdd(codexHome, "plexum-host-gone", ["/nonexistent/plugin", "mcp-host"])
    mcpAdd(codexHome, "someone-elses", ["/nonexistent/other"]) // not ours: not checked
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome })
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, "FAIL mcp plexum-host-gone:")).toContain("/nonexistent/plugin does not exist")
    expect(fixOf(r.lines, "FAIL mcp plexum-host-gone:")).toContain("mcp remove plexum-host-gone")
    expect(r.stdout).not.toContain("someone-elses")
  })

  it("passes a CODEX_HOME that does not exist yet (serve creates it); fails one that cannot be created", async () => {
    const { profile, codexHome } = await setup({ binary: codexBin })
    const missing = join(codexHome, "nope")
    const creatable = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: missing })
    expect(lineOf(creatable.lines, "ok   CODEX_HOME:")).toContain(`${missing} does not exist yet; the plugin creates it`)
    await mkdir(codexHome, { recursive: true })
    await writeFile(join(codexHome, "a-file"), "")
    const impossible = join(codexHome, "a-file", "home")
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: impossible })
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, "FAIL CODEX_HOME:")).toContain(`${impossible} does not exist`)
    expect(fixOf(r.lines, "FAIL CODEX_HOME:")).toBe(`fix: mkdir -p ${impossible}`)
  })

  it("reports credentials by presence only, never their value", async () => {
    const { profile, codexHome } = await setup({ binary: codexBin })
    await mkdir(codexHome, { recursive: true })
    await writeFile(join(codexHome, "auth.json"), JSON.stringify({ OPENAI_API_KEY: "sk-secret-in-file" }), { mode: 0o600 })
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome, OPENAI_API_KEY: "sk-secret-in-env" })
    expect(r.code).toBe(0)
    expect(lineOf(r.lines, "ok   credentials:")).toContain("OPENAI_API_KEY is set")
    expect(r.stdout + r.stderr).not.toContain("sk-secret")
  })
})

describe("doctor: engine", () => {
  it("says which engine turns will use: app-server when codex supports it", async () => {
    const { profile, codexHome } = await setup({ binary: codexBin, engine: "app-server" })
    const r = doctor({ PLEXUM_PROFILE_ROOT: profile, CODEX_HOME: codexHome })
    expect(lineOf(r.lines, "ok   engine:"), r.stdout).toMatch(/app-server: .*codex \d+\.\d+\.\d+/)
  })
})
