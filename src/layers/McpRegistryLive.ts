/**
 * McpRegistry through the codex CLI itself: `codex mcp get --json` to compare,
 * `codex mcp add` to (re)register, then the two timeout keys `mcp add` cannot set
 * are written into the entry's table in config.toml, and `mcp get` verifies.
 *
 * codex rewrites config.toml wholesale on `mcp add`, so every write is serialised:
 * a semaphore within this process and a lock file in CODEX_HOME across processes.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import { Duration, Effect, Layer, Option, Schema, Stream } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { writeFileAtomic } from "../core/AtomicFile.ts"
import { serverNameFor } from "../core/ServerName.ts"
import { socketPathFor } from "../core/SocketPath.ts"
import { ENV_AGENT_ID, ENV_SOCKET } from "../mcphost/BridgeEnv.ts"
import { CodexMcpServer } from "../schemas/BridgeWire.ts"
import { McpRegistrationError, McpRegistry, type McpRegistryShape } from "../services/McpRegistry.ts"
import { PluginPaths } from "../services/PluginPaths.ts"

export interface McpRegistryOptions {
  /** The codex executable (config `binary`). */
  readonly codexBinary: string
  /** Absolute path of this plugin's executable; codex runs `<launcher> mcp-host`. */
  readonly launcher: string
  /** config `tool_timeout_sec`: codex's limit on one host tool call. */
  readonly toolTimeoutSec: number
  /** How long codex waits for mcp-host to list its tools (it starts in well under a second). */
  readonly startupTimeoutSec?: number
}

export const DEFAULT_STARTUP_TIMEOUT_SEC = 30
/** A `codex mcp …` command that takes longer than this is stuck. */
const CODEX_COMMAND_TIMEOUT = Duration.seconds(30)
const LOCK_FILE = ".plexum-mcp-registry.lock"
/** Waiting longer than this for another process's registration is an error. */
const LOCK_WAIT_MS = 90_000
/** A lock older than this is abandoned even if its pid looks alive (pid reuse). */
const LOCK_STALE_MS = 120_000

// ---------------------------------------------------------------- config.toml edit

/**
 * Keys `codex mcp add` cannot set. Without the approval mode every host tool call
 * fails under `codex exec` ("requires approval, but approval policy is never"),
 * except in the danger-full-access sandbox; the host decides what its tools may do.
 */
export interface ServerSettings {
  readonly startup_timeout_sec: number
  readonly tool_timeout_sec: number
  readonly default_tools_approval_mode: string
}

const tomlValue = (v: string | number): string => (typeof v === "number" ? String(v) : JSON.stringify(v))

/** Line range of the `[mcp_servers.<name>]` table's own keys (header excluded), or undefined. */
const serverTable = (lines: ReadonlyArray<string>, serverName: string): { start: number; end: number } | undefined => {
  const headers = new Set([
    `[mcp_servers.${serverName}]`,
    `[mcp_servers."${serverName}"]`,
    `[mcp_servers.'${serverName}']`
  ])
  const header = lines.findIndex((l) => headers.has(l.trim()))
  if (header < 0) return undefined
  let end = header + 1
  while (end < lines.length && !lines[end]!.trim().startsWith("[")) end++
  return { start: header + 1, end }
}

const keyOf = (line: string): string | undefined => /^\s*([A-Za-z0-9_-]+)\s*=/.exec(line)?.[1]

/**
 * Sets the keys in the `[mcp_servers.<name>]` table, leaving every other line as
 * it was. `undefined` when the table is not there.
 */
export const withServerSettings = (toml: string, serverName: string, settings: ServerSettings): string | undefined => {
  const lines = toml.split("\n")
  const table = serverTable(lines, serverName)
  if (table === undefined) return undefined
  const names = new Set(Object.keys(settings))
  const body = lines.slice(table.start, table.end).filter((l) => !names.has(keyOf(l) ?? ""))
  const keys = Object.entries(settings).map(([k, v]) => `${k} = ${tomlValue(v)}`)
  return [...lines.slice(0, table.start), ...keys, ...body, ...lines.slice(table.end)].join("\n")
}

/** Whether the table sets `key` to exactly `value` (as this plugin writes it). */
export const serverTableHas = (toml: string, serverName: string, key: string, value: string | number): boolean => {
  const lines = toml.split("\n")
  const table = serverTable(lines, serverName)
  if (table === undefined) return false
  const want = `${key} = ${tomlValue(value)}`
  return lines.slice(table.start, table.end).some((l) => l.trim() === want)
}

// ---------------------------------------------------------------- cross-process lock

interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly nonce: string
  readonly at: number
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const readText = (path: string) => Fs.readFile(path, "utf8").catch(() => undefined)

/** Stale: its owner died on this host, or it is too old; a half-written lock only once it is old. */
const isStale = async (path: string, text: string | undefined): Promise<boolean> => {
  const stat = await Fs.stat(path).catch(() => undefined)
  if (stat === undefined) return false
  const age = Date.now() - stat.mtimeMs
  let owner: LockOwner | undefined
  try {
    owner = JSON.parse(text ?? "") as LockOwner
  } catch {
    return age > 5_000
  }
  if (age > LOCK_STALE_MS) return true
  return owner.host === Os.hostname() && typeof owner.pid === "number" && !isAlive(owner.pid)
}

/**
 * Takes the lock file with O_EXCL. A stale lock is moved aside first (rename is
 * atomic, so two recoverers cannot both remove it); if what was moved turns out
 * not to be the stale lock we judged, it is put back with link(), which cannot
 * overwrite a lock someone took meanwhile.
 */
const acquireFileLock = async (lockPath: string): Promise<string> => {
  const nonce = Crypto.randomUUID()
  const content = JSON.stringify({ pid: process.pid, host: Os.hostname(), nonce, at: Date.now() } satisfies LockOwner)
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      await Fs.writeFile(lockPath, content, { flag: "wx", mode: 0o600 })
      return nonce
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    }
    const seen = await readText(lockPath)
    if (await isStale(lockPath, seen)) {
      const aside = `${lockPath}.stale.${process.pid}.${nonce}`
      const moved = await Fs.rename(lockPath, aside).then(() => true, () => false)
      if (moved) {
        if ((await readText(aside)) !== seen) await Fs.link(aside, lockPath).catch(() => undefined)
        await Fs.rm(aside, { force: true })
        continue
      }
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockPath} (held by ${seen ?? "?"})`)
    await new Promise((r) => setTimeout(r, 25 + Math.random() * 75))
  }
}

const releaseFileLock = async (lockPath: string, nonce: string): Promise<void> => {
  const text = await readText(lockPath)
  // Only our own lock: after a (wrongful) steal the file may be someone else's.
  if (text !== undefined && text.includes(nonce)) await Fs.rm(lockPath, { force: true })
}

// ---------------------------------------------------------------- the layer

interface Registration {
  readonly server: CodexMcpServer
  readonly toml: string
}

interface CodexRun {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

const collect = <E>(stream: Stream.Stream<Uint8Array, E>, keepLast = 1 << 20) =>
  stream.pipe(
    Stream.decodeText(),
    Stream.runFold("", (acc, s) => (acc + s).slice(-keepLast))
  )

const decodeServer = Schema.decodeUnknown(Schema.parseJson(CodexMcpServer))

export const makeMcpRegistry = (options: McpRegistryOptions) =>
  Effect.gen(function* () {
    const paths = yield* PluginPaths
    const executor = yield* Effect.context<CommandExecutor.CommandExecutor>()
    const startupTimeoutSec = options.startupTimeoutSec ?? DEFAULT_STARTUP_TIMEOUT_SEC
    const configToml = Path.join(paths.codexHome, "config.toml")
    const lockPath = Path.join(paths.codexHome, LOCK_FILE)
    const writes = yield* Effect.makeSemaphore(1)
    const ensured = new Set<string>()

    const serverName = serverNameFor
    const socketPath = (agentId: string) => socketPathFor(paths.profileRoot, agentId)

    const fail = (name: string, message: string) => new McpRegistrationError({ serverName: name, message })

    const runCodex = (name: string, args: ReadonlyArray<string>) =>
      Effect.scoped(
        Effect.gen(function* () {
          const proc = yield* Command.make(options.codexBinary, ...args).pipe(
            Command.env({ CODEX_HOME: paths.codexHome }),
            Command.start
          )
          // Runs before the stock release (which waits for exit): a stuck codex is killed.
          yield* Effect.addFinalizer(() =>
            proc.isRunning.pipe(
              Effect.flatMap((running) => (running ? proc.kill("SIGKILL") : Effect.void)),
              Effect.ignore
            )
          )
          const [stdout, stderr, exitCode] = yield* Effect.all(
            [collect(proc.stdout), collect(proc.stderr, 4096), proc.exitCode],
            { concurrency: "unbounded" }
          )
          return { stdout, stderr, exitCode: Number(exitCode) } satisfies CodexRun
        })
      ).pipe(
        Effect.timeoutFail({
          duration: CODEX_COMMAND_TIMEOUT,
          onTimeout: () => fail(name, `\`codex ${args.join(" ")}\` did not finish in 30 s`)
        }),
        Effect.catchTag("SystemError", "BadArgument", (e) =>
          Effect.fail(fail(name, `cannot run codex (${options.codexBinary}): ${e.message}`))
        ),
        Effect.provide(executor)
      )

    const settings: ServerSettings = {
      startup_timeout_sec: startupTimeoutSec,
      tool_timeout_sec: options.toolTimeoutSec,
      default_tools_approval_mode: "approve"
    }

    /** What codex has registered under the name (and the config text it came from), or None. */
    const readRegistration = (name: string) =>
      Effect.gen(function* () {
        const run = yield* runCodex(name, ["mcp", "get", name, "--json"])
        if (run.exitCode !== 0) {
          if (/no mcp server named/i.test(run.stderr)) return Option.none<Registration>()
          return yield* fail(name, `\`codex mcp get ${name}\` exited ${run.exitCode}: ${run.stderr.trim()}`)
        }
        const server = yield* decodeServer(run.stdout).pipe(
          Effect.mapError((e) => fail(name, `unexpected \`codex mcp get --json\` output: ${e.message}`))
        )
        // `mcp get` does not show the approval mode; the table itself does.
        const toml = yield* Effect.promise(() => Fs.readFile(configToml, "utf8").catch(() => ""))
        return Option.some<Registration>({ server, toml })
      })

    const isExpected = (agentId: string, found: Option.Option<Registration>): boolean => {
      if (Option.isNone(found)) return false
      const { server: s, toml } = found.value
      const t = s.transport
      if (t.type !== "stdio" || !("command" in t)) return false
      const env = t.env ?? {}
      return (
        s.enabled &&
        t.command === options.launcher &&
        t.args.length === 1 &&
        t.args[0] === "mcp-host" &&
        Object.keys(env).length === 2 &&
        env[ENV_SOCKET] === socketPath(agentId) &&
        env[ENV_AGENT_ID] === agentId &&
        s.tool_timeout_sec === settings.tool_timeout_sec &&
        s.startup_timeout_sec === settings.startup_timeout_sec &&
        serverTableHas(toml, s.name, "default_tools_approval_mode", settings.default_tools_approval_mode)
      )
    }

    /** Writes the keys `mcp add` cannot into the fresh entry: a whole-file atomic replace, under the lock. */
    const writeSettings = (name: string) =>
      Effect.tryPromise({
        try: async () => {
          const toml = await Fs.readFile(configToml, "utf8")
          const patched = withServerSettings(toml, name, settings)
          if (patched === undefined) throw new Error(`no [mcp_servers.${name}] table in ${configToml}`)
          const mode = (await Fs.stat(configToml)).mode & 0o777
          await writeFileAtomic(configToml, patched, { mode })
        },
        catch: (e) => fail(name, `cannot write the server's settings into ${configToml}: ${(e as Error).message}`)
      })

    const withFileLock = <A, E>(name: string, body: Effect.Effect<A, E>) =>
      Effect.acquireUseRelease(
        Effect.tryPromise({
          try: async () => {
            await Fs.mkdir(paths.codexHome, { recursive: true })
            return acquireFileLock(lockPath)
          },
          catch: (e) => fail(name, `cannot lock ${lockPath}: ${(e as Error).message}`)
        }),
        () => body,
        (nonce) => Effect.promise(() => releaseFileLock(lockPath, nonce).catch(() => undefined))
      )

    const register = (agentId: string, name: string) =>
      Effect.gen(function* () {
        const add = yield* runCodex(name, [
          "mcp",
          "add",
          name,
          "--env",
          `${ENV_SOCKET}=${socketPath(agentId)}`,
          "--env",
          `${ENV_AGENT_ID}=${agentId}`,
          "--",
          options.launcher,
          "mcp-host"
        ])
        if (add.exitCode !== 0) {
          return yield* fail(name, `\`codex mcp add ${name}\` exited ${add.exitCode}: ${add.stderr.trim()}`)
        }
        yield* writeSettings(name)
        const after = yield* readRegistration(name)
        if (!isExpected(agentId, after)) {
          return yield* fail(name, `codex does not read back the registration as written: ${JSON.stringify(after)}`)
        }
      })

    const ensureRegistered = Effect.fn("McpRegistry.ensureRegistered")(function* (agentId: string) {
      if (ensured.has(agentId)) return
      const name = serverName(agentId)
      yield* writes.withPermits(1)(
        Effect.gen(function* () {
          if (ensured.has(agentId)) return
          // A read needs no lock; a torn or failed read only sends us down the locked path. Under
          // the lock we register without reading again: if another process got there first, writing
          // the same entry again is harmless, and each codex run costs most of a second.
          const current = yield* readRegistration(name).pipe(Effect.orElseSucceed(() => Option.none()))
          if (!isExpected(agentId, current)) yield* withFileLock(name, register(agentId, name))
          ensured.add(agentId)
        })
      )
    })

    return { serverName, socketPath, ensureRegistered } satisfies McpRegistryShape
  })

/** Requires PluginPaths and a CommandExecutor (NodeContext). */
export const McpRegistryLive = (options: McpRegistryOptions) => Layer.effect(McpRegistry, makeMcpRegistry(options))
