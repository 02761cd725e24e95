/**
 * Reading and validating config.json (PROTOCOL.md §6). A missing file means
 * defaults; a broken one is a ConfigInvalid naming the file and the field.
 */
import { Context, Effect, type Option, ParseResult, Schema } from "effect"
import * as Fs from "node:fs/promises"
import { choosesProfile } from "../core/codex/CodexArgs.ts"
import { type CodexSource, resolveCodexBinary } from "../core/codex/CodexBinary.ts"
import { describeParseError } from "../protocol/RpcRouter.ts"
import { type Config, ConfigFile, KNOWN_CONFIG_FIELDS } from "../schemas/Config.ts"

export class ConfigInvalid extends Schema.TaggedError<ConfigInvalid>()("ConfigInvalid", {
  path: Schema.String,
  message: Schema.String
}) {}

export interface LoadedConfig {
  readonly config: Config
  /** Fields the file has that this plugin does not know (ignored, worth a warning). */
  readonly unknownFields: ReadonlyArray<string>
  /** Whether the file existed; a missing file is not an error. */
  readonly fromFile: boolean
  /** `binary` as the file sets it; undefined when it does not (PATH, then the plugin's own codex). */
  readonly binarySetting: string | undefined
  /** Where the codex in `config.binary` came from, when one was found. */
  readonly binarySource?: CodexSource
  /**
   * Set when no codex was found: `config.binary` then keeps the setting as given,
   * and every turn fails with `codex_not_found` (a name is never looked up again at turn time).
   */
  readonly binaryNotFound?: string
}

/** `binary` made absolute the one safe way (src/core/codex/CodexBinary.ts), so turns and doctor run the same file. */
const withResolvedBinary = (loaded: LoadedConfig, path: string, env: NodeJS.ProcessEnv): LoadedConfig => {
  const resolved = resolveCodexBinary(loaded.binarySetting, path, env)
  return {
    ...loaded,
    config: { ...loaded.config, binary: resolved.path },
    ...(resolved._tag === "NotFound" ? { binaryNotFound: resolved.reason } : { binarySource: resolved.source })
  }
}

/** A request other than `initialize` before a successful `initialize` (-32001). */
export class NotInitialized extends Schema.TaggedError<NotInitialized>()("NotInitialized", {
  message: Schema.String
}) {}

export interface ActiveConfigShape {
  /** The config of the last successful `initialize`; services read it when a turn starts. */
  readonly current: Effect.Effect<Config, NotInitialized>
  readonly get: Effect.Effect<Option.Option<Config>>
  readonly set: (config: Config) => Effect.Effect<void>
}

/**
 * The config in force, a value in a Ref: `initialize` validates and sets it, and nothing is
 * rebuilt when it changes (running turns keep the config they were admitted with).
 */
export class ActiveConfig extends Context.Tag("ActiveConfig")<ActiveConfig, ActiveConfigShape>() {}

export const loadConfig = Effect.fn("PluginConfig.load")(function* (path: string, env: NodeJS.ProcessEnv = process.env) {
  const text = yield* Effect.tryPromise({
    try: () => Fs.readFile(path, "utf8"),
    catch: (e) => e as NodeJS.ErrnoException
  }).pipe(
    Effect.map((t): string | undefined => t),
    Effect.catchAll((e) =>
      e.code === "ENOENT"
        ? Effect.succeed(undefined)
        : Effect.fail(new ConfigInvalid({ path, message: `cannot read ${path}: ${e.message}` }))
    )
  )
  if (text === undefined) {
    const defaults: LoadedConfig = { config: Schema.decodeUnknownSync(ConfigFile)({}), unknownFields: [], fromFile: false, binarySetting: undefined }
    return withResolvedBinary(defaults, path, env)
  }
  const raw = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) => new ConfigInvalid({ path, message: `${path} is not valid JSON: ${(e as Error).message}` })
  })
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return yield* new ConfigInvalid({ path, message: `${path} must hold a JSON object` })
  }
  const config = yield* Schema.decodeUnknown(ConfigFile, { errors: "all" })(raw).pipe(
    Effect.mapError(
      (e: ParseResult.ParseError) => new ConfigInvalid({ path, message: `${path}: ${describeParseError(e)}` })
    )
  )
  if (choosesProfile(config.extra_args)) {
    return yield* new ConfigInvalid({
      path,
      message: `${path}: extra_args: -p/--profile is taken by the plugin's per-run settings file; put those settings in config.toml instead`
    })
  }
  const unknownFields = Object.keys(raw).filter((k) => !KNOWN_CONFIG_FIELDS.includes(k))
  const binarySetting = "binary" in raw ? config.binary : undefined
  return withResolvedBinary({ config, unknownFields, fromFile: true, binarySetting }, path, env)
})
