/**
 * `doctor` checks that ask codex itself: which binary runs and its version,
 * and what `plexum-host-*` MCP registrations earlier versions left in CODEX_HOME.
 */
import { Effect, Either, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { CodexMcpServer } from "../../schemas/BridgeWire.ts"
import { codexVersionVerdict, OLDEST_TESTED_CODEX, PINNED_CODEX } from "../codex/CodexVersionRange.ts"
import { type CodexLookup, type CodexSource, resolveCodexBinary } from "../codex/CodexBinary.ts"
import { check, type CheckResult } from "./DoctorCheck.ts"
import { findExecutable, isExecutableFile, type RunProgram } from "./DoctorRun.ts"
import { SERVER_NAME_PREFIX } from "../bridge/ServerName.ts"
import { socketDirFor } from "../bridge/SocketPath.ts"

const lastLine = (text: string): string => text.trim().split("\n").filter((l) => !l.startsWith("WARNING:")).pop() ?? ""

/**
 * The version codex reported against the tested range (src/core/codex/CodexVersionRange.ts): inside is
 * ok; outside it a warning naming the range: newer is untested and probably fine, older has
 * known differences the plugin does not handle (the fix is the upgrade), but neither stops a turn.
 */
export const checkCodexVersion = (versionText: string | undefined): CheckResult => {
  if (versionText === undefined) return check("codex version", "skip", "needs a working codex binary")
  const verdict = codexVersionVerdict(versionText)
  switch (verdict.kind) {
    case "inside":
      return check("codex version", "ok", verdict.message)
    case "newer":
      return check("codex version", "warn", verdict.message, `run \`npm run compat -- ${verdict.version}\` in a checkout of this plugin, or install codex ${PINNED_CODEX}`)
    case "older":
      return check("codex version", "warn", verdict.message, verdict.fix)
    case "unknown":
      return check("codex version", "warn", verdict.message, `check that the "binary" codex is the Codex CLI (tested: ${OLDEST_TESTED_CODEX} … ${PINNED_CODEX})`)
  }
}

/** Why this codex runs, as the `codex binary` line says it. */
const why = (source: CodexSource, setting: string | undefined): string => {
  switch (source) {
    case "config":
      return `config "binary": "${setting}"`
    case "PATH":
      return `codex on PATH (config sets no "binary")`
    case "bundled":
      return `the codex installed with the plugin (config sets no "binary", and there is no codex on PATH)`
  }
}

/**
 * The codex `initialize` would choose, resolved exactly as it does (resolveCodexBinary: config
 * `binary` when set, else `codex` on PATH, else the one installed with the plugin) and asked for
 * `--version`; `path` is set when it can be run, and the line prints it, its answer and why it runs.
 */
export const checkCodexBinary = (
  setting: string | undefined,
  configPath: string,
  env: NodeJS.ProcessEnv,
  run: RunProgram,
  lookup: CodexLookup = {}
): Effect.Effect<{ path: string | undefined; version?: string; result: CheckResult }> => {
  const resolved = resolveCodexBinary(setting, configPath, env, lookup)
  if (resolved._tag === "NotFound") {
    const result =
      setting === undefined
        ? check(
            "codex binary",
            "fail",
            resolved.reason,
            `install the Codex CLI (npm install -g @openai/codex@${PINNED_CODEX}), reinstall this plugin without --omit=optional, or set "binary" in ${configPath} to the full path of codex`
          )
        : check(
            "codex binary",
            "fail",
            `${resolved.reason} (config "binary": "${setting}")`,
            `set "binary" in ${configPath} to an existing codex executable (now "${setting}"), or remove it to use codex on PATH or the one installed with the plugin`
          )
    return Effect.succeed({ path: undefined, result })
  }
  const { path, source } = resolved
  return run(path, ["--version"], env).pipe(
    Effect.map((out) =>
      out.exitCode === 0
        ? {
            path,
            version: lastLine(out.stdout),
            result: check("codex binary", "ok", `${path} (${lastLine(out.stdout) || "version unknown"}): ${why(source, setting)}`)
          }
        : {
            path: undefined,
            result: check(
              "codex binary",
              "fail",
              `${path} --version exited with ${out.exitCode}: ${lastLine(out.stderr) || lastLine(out.stdout)}`,
              `check that ${path} is the Codex CLI and runs from a shell`
            )
          }
    ),
    Effect.catchTag("ProgramFailed", (e) =>
      Effect.succeed({
        path: undefined,
        result: check("codex binary", "fail", e.message, `check that ${path} is the Codex CLI and runs from a shell`)
      })
    )
  )
}

const decodeServer = Schema.decodeUnknownEither(CodexMcpServer)
const INTERPRETERS = new Set(["node", "nodejs", "tsx", "bun", "deno"])

/** What is wrong with one registration's launch command, or undefined when it can start. */
const launchProblem = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): string | undefined => {
  const resolved = command.includes("/") ? (isExecutableFile(command) ? command : undefined) : findExecutable(command, env)
  if (resolved === undefined) {
    return command.includes("/") ? `command ${command} does not exist or is not executable` : `command \`${command}\` is not on PATH`
  }
  // `node /path/to/script mcp-host`: the script must be there too.
  const script = args[0]
  if (INTERPRETERS.has(Path.basename(command)) && script !== undefined && Path.isAbsolute(script) && !isFile(script)) {
    return `script ${script} does not exist`
  }
  return undefined
}

const isFile = (file: string): boolean => {
  try {
    return Fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** One line per `plexum-host-*` server codex has registered (or one line saying there are none). */
export const checkRegistrations = (
  codexBinary: string,
  codexHome: string,
  profileRoot: string,
  env: NodeJS.ProcessEnv,
  run: RunProgram
): Effect.Effect<ReadonlyArray<CheckResult>> =>
  run(codexBinary, ["mcp", "list", "--json"], { ...env, CODEX_HOME: codexHome }).pipe(
    Effect.map((out): ReadonlyArray<CheckResult> => {
      if (out.exitCode !== 0) {
        return [
          check(
            "mcp registrations",
            "fail",
            `\`codex mcp list --json\` exited with ${out.exitCode}: ${lastLine(out.stderr)}`,
            `run \`CODEX_HOME=${codexHome} ${codexBinary} mcp list\` and fix ${Path.join(codexHome, "config.toml")}`
          )
        ]
      }
      let list: unknown
      try {
        list = JSON.parse(out.stdout)
      } catch {
        return [check("mcp registrations", "fail", "`codex mcp list --json` printed something that is not JSON", "upgrade codex, or report the codex version")]
      }
      const ours = (Array.isArray(list) ? list : [])
        .map((entry) => decodeServer(entry))
        .flatMap((d) => (Either.isRight(d) && d.right.name.startsWith(SERVER_NAME_PREFIX) ? [d.right] : []))
      if (ours.length === 0) {
        return [check("mcp registrations", "ok", `no ${SERVER_NAME_PREFIX}* servers in config.toml (the plugin gives codex an agent's server for its own runs only)`)]
      }
      const ownSocketDir = socketDirFor(profileRoot)
      const removeFix = (name: string) =>
        `the plugin removes it on its next turn; or remove it now: CODEX_HOME=${codexHome} ${codexBinary} mcp remove ${name}`
      return ours.map((server): CheckResult => {
        const name = `mcp ${server.name}`
        const transport = server.transport
        if (transport.type !== "stdio" || !("command" in transport)) {
          return check(name, "fail", `uses transport ${transport.type}, not stdio: not a registration this plugin made`, removeFix(server.name))
        }
        const launch = [transport.command, ...transport.args].join(" ")
        const problem = launchProblem(transport.command, transport.args, env)
        if (problem !== undefined) return check(name, "fail", `${problem} (registered as \`${launch}\`)`, removeFix(server.name))
        const socket = transport.env?.PLEXUM_MCP_SOCKET
        if (socket !== undefined && ownSocketDir !== undefined && Path.dirname(socket) !== ownSocketDir) {
          return check(
            name,
            "warn",
            `\`${launch}\` points at socket ${socket}, outside this profile's ${ownSocketDir}: another profile shares this CODEX_HOME`,
            "give each Plexum profile its own CODEX_HOME, or the profiles keep re-registering each other's agents"
          )
        }
        // This version stores nothing in config.toml: such an entry is an earlier version's, and
        // every codex the user starts on this CODEX_HOME starts it too (issue 10).
        if (!server.enabled) return check(name, "warn", `\`${launch}\` is disabled in config.toml (left by an earlier version)`, removeFix(server.name))
        return check(
          name,
          "warn",
          `\`${launch}\` can start, and every codex on this CODEX_HOME starts it: an earlier version registered it`,
          removeFix(server.name)
        )
      })
    }),
    Effect.catchTag("ProgramFailed", (e) =>
      Effect.succeed([check("mcp registrations", "fail", e.message, `run \`CODEX_HOME=${codexHome} ${codexBinary} mcp list\` by hand`)])
    )
  )
