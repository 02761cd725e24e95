/**
 * `doctor` checks that only look at files and the environment: the config
 * file, CODEX_HOME, codex credentials and the bridge socket directory.
 * Each returns a CheckResult and never fails.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Config } from "../../schemas/Config.ts"
import { defaultConfig } from "../../schemas/Config.ts"
import { loadConfig } from "../../services/PluginConfig.ts"
import { check, type CheckResult } from "./DoctorCheck.ts"
import { socketDirFor } from "../bridge/SocketPath.ts"

const uid = (): number => (typeof process.getuid === "function" ? process.getuid() : 0)

/**
 * The config in force (defaults when the file is broken, so later checks still run), its `binary`
 * as the file sets it (undefined when it does not), and its line.
 */
export const checkConfig = (
  configPath: string
): Effect.Effect<{ config: Config; binarySetting: string | undefined; result: CheckResult }> =>
  loadConfig(configPath).pipe(
    Effect.map(({ config, fromFile, unknownFields, binarySetting }) => {
      if (!fromFile) return { config, binarySetting, result: check("config", "ok", `${configPath} not found: defaults in force`) }
      if (unknownFields.length > 0) {
        return {
          config,
          binarySetting,
          result: check(
            "config",
            "warn",
            `${configPath} is valid but has unknown fields, ignored: ${unknownFields.join(", ")}`,
            "check their spelling against docs/configuration.md, or remove them"
          )
        }
      }
      return { config, binarySetting, result: check("config", "ok", `${configPath} is valid`) }
    }),
    Effect.catchTag("ConfigInvalid", (e) =>
      Effect.succeed({
        config: defaultConfig,
        binarySetting: undefined,
        result: check(
          "config",
          "fail",
          e.message,
          `correct that field (see docs/configuration.md) or move ${configPath} away to use the defaults; the host gets error -32002 until then`
        )
      })
    )
  )

/** Whether this user could create `dir`: its nearest existing ancestor is a writable directory. */
const canCreate = (dir: string): boolean => {
  for (let d = Path.dirname(dir); ; d = Path.dirname(d)) {
    try {
      if (!Fs.statSync(d).isDirectory()) return false
      Fs.accessSync(d, Fs.constants.W_OK | Fs.constants.X_OK)
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || d === Path.dirname(d)) return false
    }
  }
}

/** codex refuses to start when CODEX_HOME names a missing directory, and writes sessions into it. */
export const checkCodexHome = (codexHome: string): Effect.Effect<CheckResult> =>
  Effect.sync(() => {
    let stat: Fs.Stats
    try {
      stat = Fs.statSync(codexHome)
    } catch {
      // `serve` creates it (0700) at its start: missing is fine where it can be made.
      return canCreate(codexHome)
        ? check("CODEX_HOME", "ok", `${codexHome} does not exist yet; the plugin creates it (mode 0700) when it starts`)
        : check("CODEX_HOME", "fail", `${codexHome} does not exist and cannot be created by this user (codex will not start)`, `mkdir -p ${codexHome}`)
    }
    if (!stat.isDirectory()) {
      return check("CODEX_HOME", "fail", `${codexHome} is not a directory`, "point CODEX_HOME at a directory")
    }
    try {
      Fs.accessSync(codexHome, Fs.constants.W_OK | Fs.constants.X_OK)
    } catch {
      return check(
        "CODEX_HOME",
        "fail",
        `${codexHome} is not writable by this user (codex writes sessions and config.toml there)`,
        `chown/chmod it so uid ${uid()} can write it, or set CODEX_HOME to a directory you own`
      )
    }
    // codex writes rollouts with the umask's modes (0644 under 022): only the home's own mode keeps
    // other users from reading every agent's conversations (docs/security.md).
    const mode = stat.mode & 0o777
    if ((mode & 0o011) !== 0) {
      return check(
        "CODEX_HOME",
        "warn",
        `${codexHome} has mode 0${mode.toString(8)}: other users can enter it and read the rollouts codex writes there (every agent's conversations)`,
        `chmod 700 ${codexHome}`
      )
    }
    return check("CODEX_HOME", "ok", `${codexHome} exists and is writable`)
  })

const API_KEY_VARS = ["OPENAI_API_KEY", "CODEX_API_KEY"] as const

/** The `model_provider=` value `extra_args` select, if any (`-c model_provider=x` or `--config=...`). */
export const customProvider = (extraArgs: ReadonlyArray<string>): string | undefined => {
  for (const arg of extraArgs) {
    const m = /(?:^|[=\s])model_provider\s*=\s*"?([A-Za-z0-9_.-]+)"?\s*$/.exec(arg)
    if (m) return m[1]
  }
  return undefined
}

/**
 * Decided: a missing credential is a warning, not a failure. A model provider
 * chosen in `extra_args` (a local or scripted server) needs no OpenAI login, and
 * then this line is ok. Only presence is reported, never a value.
 */
export const checkCredentials = (
  codexHome: string,
  env: NodeJS.ProcessEnv,
  extraArgs: ReadonlyArray<string>,
  /** The codex to log in with, as the fix names it: the one that runs (not on PATH when it came with the plugin). */
  codex = "codex"
): Effect.Effect<CheckResult> =>
  Effect.sync(() => {
    const authFile = Path.join(codexHome, "auth.json")
    const found: Array<string> = []
    let exposed = false
    try {
      const st = Fs.statSync(authFile)
      if (st.isFile()) {
        found.push(`${authFile} (codex login)`)
        exposed = (st.mode & 0o077) !== 0
      }
    } catch {
      // no login file
    }
    for (const name of API_KEY_VARS) if ((env[name] ?? "") !== "") found.push(`${name} is set`)
    if (found.length > 0) {
      return exposed
        ? check("credentials", "warn", `${found.join("; ")}, but ${authFile} is readable by other users`, `chmod 600 ${authFile}`)
        : check("credentials", "ok", found.join("; "))
    }
    const provider = customProvider(extraArgs)
    if (provider !== undefined) {
      return check("credentials", "ok", `none found; not needed for model_provider=${provider} chosen in extra_args`)
    }
    return check(
      "credentials",
      "warn",
      `no ${authFile} and neither ${API_KEY_VARS.join(" nor ")} is set: turns against OpenAI will fail to authenticate`,
      `run \`CODEX_HOME=${codexHome} ${codex} login\`, or export OPENAI_API_KEY for the host that starts the plugin`
    )
  })

/** The nearest directory that exists at or above `path`. */
const existingAncestor = (path: string): string => {
  let dir = Path.resolve(path)
  while (!Fs.existsSync(dir) && Path.dirname(dir) !== dir) dir = Path.dirname(dir)
  return dir
}

/** The plugin keeps thread memory and process records under the profile: it must be able to write there. */
export const checkStateDir = (stateDir: string): Effect.Effect<CheckResult> =>
  Effect.sync(() => {
    const at = existingAncestor(stateDir)
    try {
      if (!Fs.statSync(at).isDirectory()) {
        return check("state directory", "fail", `${at} is in the way of ${stateDir} (not a directory)`, `move ${at} away`)
      }
      Fs.accessSync(at, Fs.constants.W_OK | Fs.constants.X_OK)
    } catch {
      return check(
        "state directory",
        "fail",
        `${at} is not writable, so ${stateDir} cannot be written (thread memory would be lost)`,
        "set PLEXUM_PROFILE_ROOT to a directory you own, or fix its permissions"
      )
    }
    return at === Path.resolve(stateDir)
      ? check("state directory", "ok", `${stateDir} is writable`)
      : check("state directory", "ok", `${stateDir} not created yet (${at} is writable)`)
  })

/** The bridge sockets' directory must be private: 0700 and ours (the plugin refuses anything else). */
export const checkSocketDir = (profileRoot: string, runtimeDir?: string): Effect.Effect<CheckResult> =>
  Effect.sync(() => {
    const dir = socketDirFor(profileRoot, runtimeDir)
    if (dir === undefined) {
      return check(
        "socket directory",
        "ok",
        `the profile's path is too long for a socket: each turn with tools makes its own private directory in /tmp (random name, 0700)`
      )
    }
    let st: Fs.Stats
    try {
      st = Fs.lstatSync(dir)
    } catch {
      return check("socket directory", "ok", `${dir} not created yet (made with mode 0700 on the first turn with tools)`)
    }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      return check("socket directory", "fail", `${dir} is not a directory (or is a symlink); turns with host tools will fail`, `remove it: rm -rf ${dir}`)
    }
    if (st.uid !== uid()) {
      return check(
        "socket directory",
        "fail",
        `${dir} belongs to uid ${st.uid}, not you (uid ${uid()}); the plugin refuses it, so host tools fail`,
        `remove it (it may be someone squatting the name): rm -rf ${dir}`
      )
    }
    const mode = st.mode & 0o777
    if (mode !== 0o700) {
      return check(
        "socket directory",
        "warn",
        `${dir} has mode 0${mode.toString(8)}, not 0700 (others may reach the sockets until the plugin resets it on the next turn)`,
        `chmod 700 ${dir}`
      )
    }
    return check("socket directory", "ok", `${dir} is private (0700, yours)`)
  })
