/**
 * What `rollout inspect` and `rollout list` do (src/commands/RolloutCommand.ts defines them and
 * loads this module when one runs). Text from files is escaped before it reaches a terminal.
 */
import { Console, Effect, Option, Schema } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { colorStyle, escapeForTerminal, plainStyle, renderCall, renderReport, safeJson, wantsColor } from "../core/rollout/RolloutReportText.ts"
import { defaultConfig } from "../schemas/Config.ts"
import { loadConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { RolloutStore } from "../services/RolloutStore.ts"
import { SessionStore } from "../services/SessionStore.ts"

/** A `rollout` command's failure: `message` is the one line the CLI prints before exiting 1. */
export class RolloutCommandFailed extends Schema.TaggedError<RolloutCommandFailed>()("RolloutCommandFailed", {
  message: Schema.String
}) {}

const fail = (message: string) => Effect.fail(new RolloutCommandFailed({ message: escapeForTerminal(message) }))

const style = () => (wantsColor(process.stdout.isTTY, process.env) ? colorStyle : plainStyle)

/** The consume marker in force: config.json's, else the default (a broken config is not our business here). */
const markerIn = (configPath: string) =>
  loadConfig(configPath).pipe(
    Effect.map(({ config }) => config.consume_marker),
    Effect.orElseSucceed(() => defaultConfig.consume_marker)
  )

const looksLikePath = (target: string) => target.includes("/") || target.endsWith(".jsonl")

const isFile = (path: string) =>
  Effect.promise(() => Fs.stat(path).then((s) => s.isFile(), () => false))

export interface InspectFlags {
  readonly target: string
  readonly json: boolean
  /** With `json`: complete arguments and outputs. */
  readonly full: boolean
  /** Only this call, complete. */
  readonly call: Option.Option<string>
  readonly codexHome: Option.Option<string>
}

export interface ListFlags {
  readonly json: boolean
  readonly codexHome: Option.Option<string>
}

/** `codexHome` (the flag) is already in PluginPaths: Main.ts builds the command's services over it. */
export const inspectRollout = ({ call, full, json, target }: InspectFlags) =>
    Effect.gen(function* () {
      const paths = yield* PluginPaths
      const store = yield* RolloutStore
      let path: string
      if (looksLikePath(target)) {
        path = Path.resolve(target)
        if (!(yield* isFile(path))) return yield* fail(`no rollout file at ${path}`)
      } else {
        path = yield* store.find(target).pipe(
          Effect.catchTags({
            RolloutNotFound: (e) => fail(`${e.message} under ${paths.codexHome}`),
            RolloutReadError: (e) => fail(e.message)
          })
        )
      }
      const marker = yield* markerIn(paths.configPath)
      const only = Option.getOrUndefined(call)
      const keepValues = only !== undefined ? (id: string) => id === only : full && json ? () => true : undefined
      const report = yield* store
        .report(path, marker, keepValues === undefined ? {} : { keepValues })
        .pipe(Effect.catchTag("RolloutReadError", (e) => fail(e.message)))
      if (only !== undefined) {
        const found = report.toolCalls.find((c) => c.callId === only)
        if (found === undefined) return yield* fail(`no tool call ${only} in ${path}`)
        yield* Console.log(json ? safeJson({ file: report.file, threadId: report.threadId, call: found }) : renderCall(report, found, style()))
        return
      }
      yield* Console.log(json ? safeJson(report) : renderReport(report, style()))
    })

export interface ListedThread {
  readonly threadId: string
  readonly startedAt: string
  readonly lastTurnAt: string
  /** The thread the next turn of this agent resumes. */
  readonly current: boolean
  readonly rollout: string | null
}

export interface ListedSession {
  readonly agentId: string
  readonly workspace: string
  readonly threads: ReadonlyArray<ListedThread>
}

const newestFirst = <A>(key: (a: A) => string) => (a: A, b: A) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0)

export const listThreads = ({ json }: ListFlags) =>
  Effect.gen(function* () {
    const store = yield* RolloutStore
    const { dir, records, unreadable } = yield* (yield* SessionStore).list()
    const sessions: Array<ListedSession> = []
    for (const record of records) {
      const threads: Array<ListedThread> = []
      for (const t of [...record.threads].sort(newestFirst((t) => t.lastTurnAt))) {
        const rollout = yield* store.find(t.threadId).pipe(Effect.option, Effect.map(Option.getOrNull))
        threads.push({ ...t, current: t.threadId === record.lastThreadId, rollout })
      }
      sessions.push({ agentId: record.agentId, workspace: record.workspace, threads })
    }
    sessions.sort(newestFirst((s) => s.threads[0]?.lastTurnAt ?? ""))
    if (json) {
      yield* Console.log(safeJson({ sessions, unreadable }))
      return
    }
    const st = style()
    const e = escapeForTerminal
    if (sessions.length === 0) yield* Console.log(st.dim(`no threads recorded yet (${e(dir)})`))
    for (const s of sessions) {
      yield* Console.log(`${st.bold(`agent ${e(s.agentId)}`)}  ${st.dim("workspace")} ${e(s.workspace)}`)
      for (const t of s.threads) {
        const where = t.rollout === null ? st.warn("rollout missing") : e(t.rollout)
        yield* Console.log(`  ${t.current ? "*" : " "} ${e(t.threadId)}  ${st.dim("last turn")} ${e(t.lastTurnAt)}  ${where}`)
      }
    }
    for (const file of unreadable) yield* Console.log(st.warn(`unreadable session record: ${e(file)}`))
  })
