// McpRegistry against the real codex CLI (PROTOCOL.md §7, CODEX.md "MCP servers"): what codex
// ends up with in config.toml, and that concurrent first turns never lose a registration.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { serverNameFor } from "../../src/core/ServerName.ts"
import { socketDirFor, socketPathFor } from "../../src/core/SocketPath.ts"
import { McpRegistryLive, type McpRegistryOptions } from "../../src/layers/McpRegistryLive.ts"
import { McpRegistry } from "../../src/services/McpRegistry.ts"
import { PluginPaths, resolvePluginPaths } from "../../src/services/PluginPaths.ts"
import { codexBin } from "../support/CodexOffline.ts"
import { REPO } from "../process/bridge/BridgeKit.ts"

const LAUNCHER = "/opt/plexum/bin/plexum-openai-provider-plugin"

const tempHomes = Effect.acquireRelease(
  Effect.sync(() => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bridge-registry-"))
    const profile = Path.join(root, "profile")
    const codexHome = Path.join(root, "codex-home")
    Fs.mkdirSync(codexHome)
    return { root, profile, codexHome }
  }),
  ({ root, profile }) =>
    Effect.sync(() => {
      Fs.rmSync(socketDirFor(profile), { recursive: true, force: true })
      Fs.rmSync(root, { recursive: true, force: true })
    })
)

const registryLayer = (homes: { profile: string; codexHome: string }, options: Partial<McpRegistryOptions> = {}) =>
  McpRegistryLive({ codexBinary: codexBin, launcher: LAUNCHER, toolTimeoutSec: 600, ...options }).pipe(
    Layer.provide(
      Layer.mergeAll(
        Layer.succeed(PluginPaths, resolvePluginPaths({ PLEXUM_PROFILE_ROOT: homes.profile, CODEX_HOME: homes.codexHome })),
        NodeContext.layer
      )
    )
  )

const ensure = (homes: { profile: string; codexHome: string }, ids: ReadonlyArray<string>, options: Partial<McpRegistryOptions> = {}) =>
  Effect.flatMap(McpRegistry, (r) => Effect.forEach(ids, r.ensureRegistered, { concurrency: "unbounded" })).pipe(
    Effect.provide(registryLayer(homes, options))
  )

const mcpGet = (codexHome: string, name: string) =>
  JSON.parse(
    execFileSync(codexBin, ["mcp", "get", name, "--json"], {
      env: { ...process.env, CODEX_HOME: codexHome },
      stdio: ["ignore", "pipe", "ignore"]
    }).toString()
  )

const mcpList = (codexHome: string): Array<{ name: string }> =>
  JSON.parse(
    execFileSync(codexBin, ["mcp", "list", "--json"], {
      env: { ...process.env, CODEX_HOME: codexHome },
      stdio: ["ignore", "pipe", "ignore"]
    }).toString()
  )

const lookAlikes = ["team.a", "team_a", "team/a", "team a"]

describe("McpRegistry with the real codex", () => {
  it.scopedLive("registers the agent's mcp-host with its socket, agent id, timeouts and tool approval", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      yield* ensure(homes, ["agent-1"])
      const got = mcpGet(homes.codexHome, "plexum-host-agent-1")
      expect(got.transport).toMatchObject({
        type: "stdio",
        command: LAUNCHER,
        args: ["mcp-host"],
        env: { PLEXUM_MCP_SOCKET: socketPathFor(homes.profile, "agent-1"), PLEXUM_MCP_AGENT_ID: "agent-1" }
      })
      expect(got.enabled).toBe(true)
      expect(got.tool_timeout_sec).toBe(600)
      expect(got.startup_timeout_sec).toBe(30)
      const toml = Fs.readFileSync(Path.join(homes.codexHome, "config.toml"), "utf8")
      expect(toml).toMatch(/\[mcp_servers\.plexum-host-agent-1\][^[]*default_tools_approval_mode = "approve"/)
      // The lock is gone once done.
      expect(Fs.readdirSync(homes.codexHome).filter((f) => f.includes("lock"))).toEqual([])
    })
  )

  it.scopedLive("leaves an identical registration alone and replaces a stale one, keeping the user's other settings", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const config = Path.join(homes.codexHome, "config.toml")
      Fs.writeFileSync(config, `# mine\nmodel = "o3"\n\n[mcp_servers.theirs]\ncommand = "x"\ntool_timeout_sec = 5.0\n`)
      yield* ensure(homes, ["agent-1"])
      const first = Fs.statSync(config)
      // A new plugin process (fresh cache) finds it identical and writes nothing.
      yield* ensure(homes, ["agent-1"])
      const second = Fs.statSync(config)
      expect([second.ino, second.mtimeMs]).toEqual([first.ino, first.mtimeMs])
      // A plugin installed elsewhere (another launcher) or a new tool timeout replaces it.
      yield* ensure(homes, ["agent-1"], { launcher: "/elsewhere/plugin", toolTimeoutSec: 42 })
      const got = mcpGet(homes.codexHome, "plexum-host-agent-1")
      expect(got.transport.command).toBe("/elsewhere/plugin")
      expect(got.tool_timeout_sec).toBe(42)
      const toml = Fs.readFileSync(config, "utf8")
      expect(toml).toContain("# mine")
      expect(toml).toContain('model = "o3"')
      expect(mcpGet(homes.codexHome, "theirs").tool_timeout_sec).toBe(5)
    })
  )

  it.scopedLive("gives four look-alike agents registering concurrently four registrations", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      yield* ensure(homes, lookAlikes)
      const names = mcpList(homes.codexHome).map((s) => s.name).sort()
      expect(names).toEqual(lookAlikes.map(serverNameFor).sort())
      expect(new Set(names).size).toBe(4)
      for (const id of lookAlikes) {
        expect(mcpGet(homes.codexHome, serverNameFor(id)).transport.env.PLEXUM_MCP_AGENT_ID).toBe(id)
      }
    })
  )

  it.scopedLive("loses no registration when separate registries (as in separate plugins) race on one CODEX_HOME", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      // One registry per id: no shared semaphore, only the lock file in CODEX_HOME keeps them apart.
      yield* Effect.all(
        lookAlikes.map((id) => ensure(homes, [id])),
        { concurrency: "unbounded" }
      )
      const names = mcpList(homes.codexHome).map((s) => s.name).sort()
      expect(names).toEqual(lookAlikes.map(serverNameFor).sort())
    })
  )

  it.scopedLive("loses no registration when several plugin processes register look-alikes at once", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const fixture = Path.join(REPO, "test/process/bridge/fixtures/RegisterAgents.ts")
      const runs = lookAlikes.map(
        (id) =>
          new Promise<{ code: number | null; out: string }>((resolve) => {
            const child = spawn(process.execPath, ["--import", "tsx", fixture, codexBin, LAUNCHER, id], {
              cwd: REPO,
              env: { ...process.env, CODEX_HOME: homes.codexHome, PLEXUM_PROFILE_ROOT: homes.profile }
            })
            let out = ""
            child.stdout.on("data", (d: Buffer) => (out += d.toString()))
            child.stderr.on("data", (d: Buffer) => (out += d.toString()))
            child.on("close", (code) => resolve({ code, out }))
          })
      )
      const results = yield* Effect.promise(() => Promise.all(runs))
      expect(results.map((r) => r.code), results.map((r) => r.out).join("\n")).toEqual([0, 0, 0, 0])
      const names = mcpList(homes.codexHome).map((s) => s.name).sort()
      expect(names).toEqual(lookAlikes.map(serverNameFor).sort())
    }),
    // Four node processes and a dozen codex runs: slow on a loaded two-core machine.
    180_000
  )

  it.scopedLive("recovers a lock left by a dead process", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const dead = spawn(process.execPath, ["-e", "0"])
      yield* Effect.promise(() => new Promise((r) => dead.once("exit", r)))
      Fs.writeFileSync(
        Path.join(homes.codexHome, ".plexum-mcp-registry.lock"),
        JSON.stringify({ pid: dead.pid, host: Os.hostname(), nonce: "x", at: Date.now() })
      )
      yield* ensure(homes, ["agent-1"])
      expect(mcpGet(homes.codexHome, "plexum-host-agent-1").transport.command).toBe(LAUNCHER)
    })
  )

  it.scopedLive("fails with McpRegistrationError when codex cannot be run", () =>
    Effect.gen(function* () {
      const homes = yield* tempHomes
      const error = yield* Effect.flip(ensure(homes, ["agent-1"], { codexBinary: "/nonexistent/codex" }))
      expect(error._tag).toBe("McpRegistrationError")
      expect(error.serverName).toBe("plexum-host-agent-1")
      expect(error.message).toMatch(/nonexistent\/codex/)
    })
  )
})
