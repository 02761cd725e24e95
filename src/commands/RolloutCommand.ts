/**
 * `rollout inspect <THREAD_ID | PATH>` and `rollout list`: a person's view of codex rollouts and
 * of the threads this plugin ran. The work is in RolloutActions.ts, loaded only when one runs,
 * so other commands start without it.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"

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

const inspect = Command.make(
  "inspect",
  { target: Args.text({ name: "THREAD_ID | PATH" }), json, full, call, codexHome },
  (flags) => Effect.flatMap(actions, (a) => a.inspectRollout(flags))
).pipe(
  Command.withDescription(
    "Show a rollout: thread, cwd, codex version, model, turns and prompts, every tool call (sizes, paired, consumed, a preview of its arguments and output), token usage and warnings."
  )
)

const list = Command.make("list", { json, codexHome }, (flags) => Effect.flatMap(actions, (a) => a.listThreads(flags))).pipe(
  Command.withDescription("List the threads this plugin ran, per agent and workspace, newest first (* = resumed next).")
)

export const rolloutCommand = Command.make("rollout").pipe(
  Command.withDescription("Inspect codex rollouts (the files the consume mirror rewrites)."),
  Command.withSubcommands([inspect, list])
)
