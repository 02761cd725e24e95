/** The plugin's config.json (PROTOCOL.md §6). Every field optional; defaults applied on decode. */
import { Schema } from "effect"
import { Sandbox } from "./Protocol.ts"

export const ConfigFile = Schema.Struct({
  binary: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { default: () => "codex" }),
  extra_args: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  supported_models: Schema.optionalWith(Schema.Array(Schema.String).pipe(Schema.minItems(1)), {
    default: () => ["codex"]
  }),
  model_args: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), {
    default: () => ({})
  }),
  sandbox: Schema.optionalWith(Sandbox, { default: () => "workspace-write" as const }),
  turn_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1_800_000 }),
  consume_marker: Schema.optionalWith(Schema.String, { default: () => "...(tool called)" }),
  tool_timeout_sec: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 600 }),
  /** `exec`: one `codex exec` per turn; `app-server`: a long-lived `codex app-server` (PROTOCOL.md §8). */
  engine: Schema.optionalWith(Schema.Literal("exec", "app-server"), { default: () => "exec" as const }),
  /**
   * app-server engine: a thread no turn has used for this long is unloaded from the shared
   * app-server, which then lets go of its memory and of codex's writer lock of the thread.
   */
  thread_idle_unload_sec: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 600 }),
  /**
   * Whether the bridge serves only processes it can show descend from the turn's codex (true), or
   * trusts the turn token alone (false: for systems without /proc or `ss`; docs/security.md).
   */
  bridge_peer_check: Schema.optionalWith(Schema.Boolean, { default: () => true })
})
export type Config = typeof ConfigFile.Type
export type EngineName = Config["engine"]

export const KNOWN_CONFIG_FIELDS: ReadonlyArray<string> = Object.keys(ConfigFile.fields)

export const defaultConfig: Config = Schema.decodeUnknownSync(ConfigFile)({})
