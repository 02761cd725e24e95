// McpRegistry against the real codex CLI (PROTOCOL.md §7, issue 10): the agent's server exists for
// the plugin's own runs only; what earlier versions registered in config.toml is removed with a
// minimal edit that keeps the user's file (symlink, comments, order, entries), and concurrent
// writers (other plugin processes, a user's `codex mcp add`) lose nothing.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { runProfileToml, writeRunProfile } from "../../src/core/codex/RunProfile.ts"
import { serverNameFor } from "../../src/core/bridge/ServerName.ts"
import { McpRegistryLive, type McpRegistryOptions } from "../../src/layers/McpRegistryLive.ts"
import { McpRegistry } from "../../src/services/McpRegistry.ts"
import { PluginPaths, resolvePluginPaths } from "../../src/services/PluginPaths.ts"
import { codexBin } from "../support/CodexOffline.ts"
import { REPO } from "../process/bridge/BridgeKit.ts"

const LAUNCHER = "/opt/plexum/bin/plexum-openai-provider-plugin"

interface Homes {
  readonly root: string
  readonly profile: string
  readonly codexHome: string
  /** Where a dotfile manager keeps the real config.toml; CODEX_HOME/config.toml links to it. */
  readonly dotfile: string
}

const tempHomes = Effect.acquireRelease(
  Effect.sync((): Homes => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bridge-registry-"))
    const profile = Path.join(root, "profile")
    const codexHome = Path.join(root, "codex-home")
    Fs.mkdirSync(codexHome)
    Fs.mkdirSync(Path.join(root, "dotfiles"))
    return { root, profile, codexHome, dotfile: Path.join(root, "dotfiles", "codex-config.toml") }
  }),
  ({ root }) => Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true }))
)

const registryLayer = (homes: Homes, options: Partial<McpRegistryOptions> = {}) =>
  McpRegistryLive({ launcher: LAUNCHER, ...options }).pipe(
    Layer.provide(Layer.succeed(PluginPaths, resolvePluginPaths({ PLEXUM_PROFILE_ROOT: homes.profile, CODEX_HOME: homes.codexHome })))
  )

const codex = (codexHome: string, args: ReadonlyArray<string>) =>
  execFileSync(codexBin, args, { env: { ...process.env, CODEX_HOME: codexHome }, stdio: ["ignore", "pipe", "ignore"] }).toString()

const mcpList = (codexHome: string): Array<{ name: string; enabled: boolean }> => JSON.parse(codex(codexHome, ["mcp", "list", "--json"]))

/** What an earlier version did on an agent's first turn with tools. */
const legacyRegister = (homes: Homes, agentId: string) =>
  codex(homes.codexHome, [
    "mcp", "add", serverNameFor(agentId),
    "--env", `PLEXUM_MCP_SOCKET=${Path.join(homes.profile, "plugins/plexum-openai-provider/sock", `${agentId}.sock`)}`,
    "--env", `PLEXUM_MCP_AGENT_ID=${agentId}`,
    "--", LAUNCHER, "mcp-host"
  ])

const USER_CONFIG = `# my codex settings, kept in my dotfiles
model = "o3" # the one I like

[mcp_servers.theirs]
command = "my-server"
tool_timeout_sec = 5.0
`

/**
 * A symlinked config.toml with the user's comments and entry, plus `agents` registered the old
 * way (codex writes through the link). The target's mode afterwards (codex sets its own).
 */
const dotfileHome = (homes: Homes, agents: ReadonlyArray<string>): number => {
  Fs.writeFileSync(homes.dotfile, USER_CONFIG, { mode: 0o640 })
  Fs.symlinkSync(homes.dotfile, Path.join(homes.codexHome, "config.toml"))
  for (const id of agents) legacyRegister(homes, id)
  return Fs.statSync(homes.dotfile).mode & 0o777
}

const expectUserConfigKept = (homes: Homes, mode: number) => {
  const link = Path.join(homes.codexHome, "config.toml")
  expect(Fs.lstatSync(link).isSymbolicLink()).toBe(true)
  expect(Fs.readlinkSync(link)).toBe(homes.dotfile)
  expect(Fs.statSync(homes.dotfile).mode & 0o777).toBe(mode)
  const text = Fs.readFileSync(homes.dotfile, "utf8")
  expect(text.startsWith(USER_CONFIG)).toBe(true)
  expect(text).not.toContain("plexum-host")
}

/** Where the turn's bridge listens (ToolBridge.serve names it; these tests run no bridge). */
const SOCKET = "/tmp/plexum-mcp-abc123/agent-1-0123456789abcdef.sock"

const lookAlikes = ["team.a", "team_a", "team/a", "team a"]

describe("McpRegistry with the real codex", () => {
  it.scopedLive("gives the agent's server to the plugin's own run only: nothing in config.toml, nothing a plain codex starts", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const registry = Context.get(yield* Layer.build(registryLayer(homes)), McpRegistry)
      const tables = yield* registry.runServerTables("agent-1", { offersTools: true, toolTimeoutSec: 600, socketPath: SOCKET })
      expect(tables).toContain(`[mcp_servers."plexum-host-agent-1"]\ncommand = "${LAUNCHER}"`)
      expect(tables).toContain(`PLEXUM_MCP_SOCKET = "${SOCKET}"`)
      expect(yield* registry.runServerTables("agent-1", { offersTools: false, toolTimeoutSec: 600 })).toBe("")
      yield* Effect.scoped(writeRunProfile(homes.codexHome, runProfileToml({ serverTables: tables })))
      expect(Fs.readdirSync(homes.codexHome)).toEqual([])
      expect(mcpList(homes.codexHome)).toEqual([])
    })
  )

  it.scopedLive("removes the registrations an earlier version stored, through the symlink, keeping the user's comments and entries", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const mode = dotfileHome(homes, ["agent-1", "team.a"])
      expect(mcpList(homes.codexHome).map((s) => [s.name, s.enabled])).toContainEqual(["plexum-host-agent-1", true])
      const registry = Context.get(yield* Layer.build(registryLayer(homes)), McpRegistry)
      const removed = yield* registry.removeLegacyRegistrations
      expect([...removed].sort()).toEqual(["plexum-host-agent-1", serverNameFor("team.a")].sort())
      expectUserConfigKept(homes, mode)
      expect(mcpList(homes.codexHome).map((s) => s.name)).toEqual(["theirs"])
      // Once per process; and a file without legacy entries is never rewritten.
      const before = Fs.statSync(homes.dotfile)
      yield* Effect.provide(Effect.flatMap(McpRegistry, (r) => r.removeLegacyRegistrations), registryLayer(homes))
      const after = Fs.statSync(homes.dotfile)
      expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs])
      expect(Fs.readdirSync(homes.codexHome).filter((f) => f.includes("lock"))).toEqual([])
    })
  )

  it.scopedLive("two plugin processes and a user's `codex mcp add` at the same time lose nothing", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const mode = dotfileHome(homes, lookAlikes)
      const fixture = Path.join(REPO, "test/process/bridge/fixtures/RemoveLegacyRegistrations.ts")
      const run = (file: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(file, args, { cwd: REPO, env: { ...process.env, ...env } })
          let out = ""
          child.stdout.on("data", (d: Buffer) => (out += d.toString()))
          child.stderr.on("data", (d: Buffer) => (out += d.toString()))
          child.on("close", (code) => resolve({ code, out }))
        })
      const env = { CODEX_HOME: homes.codexHome, PLEXUM_PROFILE_ROOT: homes.profile }
      const results = yield* Effect.promise(() =>
        Promise.all([
          run(process.execPath, ["--import", "tsx", fixture], env),
          run(process.execPath, ["--import", "tsx", fixture], env),
          run(codexBin, ["mcp", "add", "users-new-server", "--", "/usr/bin/their-tool"], env)
        ])
      )
      expect(results.map((r) => r.code), results.map((r) => r.out).join("\n")).toEqual([0, 0, 0])
      // Between them the two plugins removed each legacy entry once.
      const removed = results.slice(0, 2).flatMap((r) => JSON.parse(r.out.trim().split("\n").at(-1)!) as Array<string>)
      expect(removed.sort()).toEqual(lookAlikes.map(serverNameFor).sort())
      // The user's entries, old and new, are all there; the link is still a link.
      const names = mcpList(homes.codexHome).map((s) => s.name).sort()
      expect(names).toEqual(["theirs", "users-new-server"])
      expectUserConfigKept(homes, mode)
    }),
    // Two node processes and a codex run: slow on a loaded two-core machine.
    180_000
  )

  it.scopedLive("recovers a lock left by a dead process", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const mode = dotfileHome(homes, ["agent-1"])
      const dead = spawn(process.execPath, ["-e", "0"])
      yield* Effect.promise(() => new Promise((r) => dead.once("exit", r)))
      Fs.writeFileSync(
        Path.join(homes.codexHome, ".plexum-mcp-registry.lock"),
        JSON.stringify({ pid: dead.pid, host: Os.hostname(), nonce: "x", at: Date.now() })
      )
      const removed = yield* Effect.provide(Effect.flatMap(McpRegistry, (r) => r.removeLegacyRegistrations), registryLayer(homes))
      expect(removed).toEqual(["plexum-host-agent-1"])
      expectUserConfigKept(homes, mode)
    })
  )

  it.scopedLive("when config.toml cannot be edited, the plugin's own runs still switch the old registrations off", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      dotfileHome(homes, ["agent-1", "agent-2"])
      // Something that is not a lock file sits where the lock goes: the edit cannot start.
      Fs.mkdirSync(Path.join(homes.codexHome, ".plexum-mcp-registry.lock"))
      const registry = Context.get(yield* Layer.build(registryLayer(homes)), McpRegistry)
      expect(yield* registry.removeLegacyRegistrations).toEqual([])
      const tables = yield* registry.runServerTables("agent-1", { offersTools: true, toolTimeoutSec: 600, socketPath: SOCKET })
      expect(tables).toContain('[mcp_servers."plexum-host-agent-2"]\nenabled = false')
      expect(tables).not.toContain('[mcp_servers."plexum-host-agent-1"]\nenabled = false')
      expect(tables).toContain('[mcp_servers."plexum-host-agent-1"]\ncommand = ')
    })
  )
})
