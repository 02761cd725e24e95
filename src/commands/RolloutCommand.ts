/**
 * `rollout inspect <THREAD_ID | PATH>` and `rollout list`: a person's view of codex rollouts and
 * of the threads this plugin ran. The work is in RolloutActions.ts, loaded only when one runs,
 * so other commands start without it.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, type Layer, type Option } from "effect"
import type { PluginPaths } from "../services/PluginPaths.ts"
import type { RolloutStore } from "../services/RolloutStore.ts"
import type { SessionStore } from "../services/SessionStore.ts"

const actions = Effect.promise(() => import("./RolloutActions.ts"))

const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON document instead of text."))
const codexHome = Options.text("codex-home").pipe(
  Options.withDescription("Look for rollouts under this CODEX_HOME instead of the configured one."),
  Options.optional
)

const call = Options.text("call").pipe(
  Options.withDescription("Print this call's complete arguments and output as recorded (a call id from the report)."),
  Options.optional
)
const full = Options.boolean("full").pipe(
  Options.withDescription("With --json: every call's complete arguments and output, not only previews.")
)

/** The services a `rollout` command reads, over CODEX_HOME or `--codex-home` (chosen in Main.ts). */
export type RolloutTools = (codexHome: Option.Option<string>) => Layer.Layer<RolloutStore | SessionStore, never, PluginPaths>

const inspectCommand = (tools: RolloutTools) => Command.make(
  "inspect",
  { target: Args.text({ name: "THREAD_ID | PATH" }), json, full, call, codexHome },
  (flags) => Effect.flatMap(actions, (a) => a.inspectRollout(flags))
).pipe(
  Command.provide((flags) => tools(flags.codexHome)),
  Command.withDescription(
    "Show a rollout: thread, cwd, codex version, model, turns and prompts, every tool call (sizes, paired, consumed, a preview of its arguments and output), token usage and warnings."
  )
)

const listCommand = (tools: RolloutTools) => Command.make("list", { json, codexHome }, (flags) => Effect.flatMap(actions, (a) => a.listThreads(flags))).pipe(
  Command.provide((flags) => tools(flags.codexHome)),
  Command.withDescription("List the threads this plugin ran, per agent and workspace, newest first (* = resumed next).")
)

export const makeRolloutCommand = (tools: RolloutTools) => Command.make("rollout").pipe(
  Command.withDescription("Inspect codex rollouts (the files the consume mirror rewrites)."),
  Command.withSubcommands([inspectCommand(tools), listCommand(tools)])
)
