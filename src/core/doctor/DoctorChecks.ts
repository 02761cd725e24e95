/**
 * Every `doctor` check in the order a user fixes things: config (it names the
 * binary), the codex binary and its version against the tested range, CODEX_HOME, credentials, codex's MCP registrations,
 * the plugin's state directory, the socket directory, the helper commands and the bridge's peer
 * check (src/core/doctor/DoctorBridgeChecks.ts). Checks that need an
 * earlier one to pass are skipped.
 */
import { Effect } from "effect"
import type { PluginPathsShape } from "../../services/PluginPaths.ts"
import { check, type CheckResult } from "./DoctorCheck.ts"
import type { Config } from "../../schemas/Config.ts"
import { checkCodexBinary, checkCodexVersion, checkRegistrations } from "./DoctorCodexChecks.ts"
import { checkBridgePeer, checkHelpers } from "./DoctorBridgeChecks.ts"
import { checkEngine, type EngineSupport } from "./DoctorEngineCheck.ts"
import { checkCodexHome, checkConfig, checkCredentials, checkSocketDir, checkStateDir } from "./DoctorLocalChecks.ts"
import type { RunProgram } from "./DoctorRun.ts"

export interface DoctorInputs {
  readonly paths: PluginPathsShape
  readonly env: NodeJS.ProcessEnv
  readonly run: RunProgram
  /** Whether the installed codex can run the app-server engine (asked only when the config wants it). */
  readonly appServerSupport?: (config: Config, codexHome: string) => Effect.Effect<EngineSupport>
}

export const runDoctorChecks = Effect.fn("Doctor.runChecks")(function* (inputs: DoctorInputs) {
  const { env, paths, run } = inputs
  const { config, binarySetting, result: configResult } = yield* checkConfig(paths.configPath)
  const binary = yield* checkCodexBinary(binarySetting, paths.configPath, env, run)
  const home = yield* checkCodexHome(paths.codexHome)
  const credentials = yield* checkCredentials(paths.codexHome, env, config.extra_args, binary.path)
  const registrations: ReadonlyArray<CheckResult> =
    binary.path === undefined || home.status === "fail"
      ? [check("mcp registrations", "skip", "needs a working codex binary and CODEX_HOME")]
      : yield* checkRegistrations(binary.path, paths.codexHome, paths.profileRoot, env, run)
  const engine = yield* checkEngine(
    config,
    binary.path !== undefined && home.status !== "fail",
    inputs.appServerSupport === undefined || binary.path === undefined
      ? Effect.succeed<EngineSupport>({ usable: false, reason: "not checked" })
      : inputs.appServerSupport({ ...config, binary: binary.path }, paths.codexHome)
  )
  const stateDir = yield* checkStateDir(paths.stateDir)
  const socketDir = yield* checkSocketDir(paths.profileRoot, paths.runtimeDir)
  const helpers = checkHelpers(env)
  const peerCheck = yield* checkBridgePeer(config)
  const version = checkCodexVersion(binary.path === undefined ? undefined : binary.version)
  return [configResult, binary.result, version, home, credentials, ...registrations, engine, stateDir, socketDir, helpers, peerCheck] as ReadonlyArray<CheckResult>
})
