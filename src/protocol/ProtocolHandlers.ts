/**
 * The protocol's method table (PROTOCOL.md §2): what each host request does. `initialize` sets
 * the config in force; turns and mutations go to the services that own them, which were built
 * once for the whole plugin and outlive any number of `initialize` calls.
 */
import { Chunk, Effect, Option } from "effect"
import { codexVersionVerdict } from "../core/codex/CodexVersionRange.ts"
import { runProgram } from "../core/doctor/DoctorRun.ts"
import { method, RpcFailure, type RpcRouter } from "./RpcRouter.ts"
import { ErrorCode } from "../schemas/JsonRpc.ts"
import { makeManifest } from "../schemas/Manifest.ts"
import {
  CancelParams,
  InitializeParams,
  MutateParams,
  PROTOCOL_VERSION,
  StreamParams,
  type StreamResult,
  type TurnEvent
} from "../schemas/Protocol.ts"
import { ActiveConfig, loadConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { PluginTransport } from "../services/PluginTransport.ts"
import { RolloutStore } from "../services/RolloutStore.ts"
import { SessionStore } from "../services/SessionStore.ts"
import { AppServerEngine, ExecEngine } from "../services/TurnEngine.ts"
import { TurnRunner, type TurnRefused } from "../services/TurnRunner.ts"
import { Turns } from "../services/Turns.ts"

const refusal = (e: TurnRefused): RpcFailure => {
  switch (e._tag) {
    case "NotInitialized":
      return new RpcFailure({ code: ErrorCode.NotInitialized, message: e.message })
    case "ModelNotServed":
      return new RpcFailure({ code: ErrorCode.ModelNotServed, message: e.message })
    case "AgentBusy":
      return new RpcFailure({ code: ErrorCode.AgentBusy, message: e.message, data: { runningTurnId: e.runningTurnId } })
    case "TurnIdInUse":
      return new RpcFailure({ code: ErrorCode.InvalidParams, message: `invalid params: ${e.message}`, data: { message: e.message } })
  }
}

/**
 * A codex outside the tested range (src/core/codex/CodexVersionRange.ts) is a `warn` at initialize, as
 * `doctor` reports it; asked in the background so `initialize` does not wait for codex.
 */
const warnOutsideTestedRange = (binary: string) =>
  Effect.gen(function* () {
    const out = yield* runProgram(10_000)(binary, ["--version"], process.env)
    const verdict = codexVersionVerdict(out.stdout.trim().split("\n").pop() ?? "")
    if (verdict.kind === "inside") return
    if (verdict.kind === "unknown" && out.stdout.trim() === "") {
      // Nothing to read a version from: say what codex did instead.
      const said = out.stderr.trim().split("\n").slice(-2).join(" | ")
      return yield* Effect.logWarning(`\`${binary} --version\` printed nothing (exit status ${out.exitCode})${said === "" ? "" : `: ${said}`}`).pipe(
        Effect.annotateLogs({ binary })
      )
    }
    yield* Effect.logWarning(verdict.kind === "older" ? `${verdict.message}; ${verdict.fix}` : verdict.message).pipe(
      Effect.annotateLogs({ binary, version: verdict.version })
    )
  }).pipe(
    Effect.catchTag("ProgramFailed", (e) => Effect.logWarning(`cannot ask codex for its version: ${e.message}`)),
  )

/**
 * A turn's event writer: numbers each batch from 0 as its write starts (PROTOCOL.md §4), and gives
 * the numbers back if the write is interrupted before its batch was queued (a stop while stdout is
 * full), so the next batch takes them and the host sees no gap.
 */
export const numberedWrites = (
  send: (firstSeq: number, events: ReadonlyArray<TurnEvent>) => Effect.Effect<void>
): ((events: Chunk.Chunk<TurnEvent>) => Effect.Effect<void>) => {
  let seq = 0
  return (events) =>
    Effect.suspend(() => {
      const firstSeq = seq
      seq += events.length
      return Effect.onInterrupt(send(firstSeq, Chunk.toReadonlyArray(events)), () => Effect.sync(() => { seq = firstSeq }))
    })
}

export const makeProtocolRouter = Effect.gen(function* () {
  const transport = yield* PluginTransport
  const serverScope = yield* Effect.scope
  const paths = yield* PluginPaths
  const activeConfig = yield* ActiveConfig
  const turns = yield* Turns
  const runner = yield* TurnRunner
  const rollouts = yield* RolloutStore
  const sessions = yield* SessionStore
  const exec = yield* ExecEngine
  const appServer = yield* AppServerEngine

  /** The config in force; -32001 before a successful initialize. */
  const initialized = Effect.mapError(activeConfig.current, refusal)

  const initialize = method(InitializeParams, () =>
    Effect.gen(function* () {
      const loaded = yield* loadConfig(paths.configPath).pipe(
        Effect.mapError(
          (e) =>
            new RpcFailure({
              code: ErrorCode.ConfigInvalid,
              message: `config invalid: ${e.message}`,
              data: { path: e.path, message: e.message }
            })
        )
      )
      for (const field of loaded.unknownFields) {
        yield* Effect.logWarning(`unknown config field "${field}" in ${paths.configPath} is ignored`).pipe(
          Effect.annotateLogs({ path: paths.configPath, field })
        )
      }
      if (loaded.binaryNotFound !== undefined) {
        yield* Effect.logWarning(`codex binary not found: ${loaded.binaryNotFound}; turns fail with codex_not_found until initialize finds it`).pipe(
          Effect.annotateLogs({ binary: loaded.config.binary })
        )
      }
      // In the server's scope: a `--version` still running when the plugin ends is ended with it.
      if (loaded.binaryNotFound === undefined) {
        yield* Effect.forkIn(warnOutsideTestedRange(loaded.config.binary), serverScope)
      }
      // A value, not a rebuild: running turns, busy agents and held threads live in Turns.
      yield* activeConfig.set(loaded.config)
      yield* Effect.logInfo("plexum-openai-provider initialized").pipe(Effect.annotateLogs({
        binary: loaded.config.binary,
        // config `binary`, `codex` on PATH, or the codex installed with the plugin (src/core/codex/CodexBinary.ts)
        ...(loaded.binarySource === undefined ? {} : { binarySource: loaded.binarySource }),
        engine: loaded.config.engine,
        models: loaded.config.supported_models,
        config: loaded.fromFile ? paths.configPath : "defaults"
      }))
      return { protocolVersion: PROTOCOL_VERSION, manifest: makeManifest(loaded.config) }
    })
  )

  /** Runs the turn: numbers its events, writes a `provider/event` batch per chunk, and answers with its summary. */
  const stream = method(StreamParams, (params, ctx) => {
    // One step around the runner, not an Effect.gen.
    return Effect.mapBoth(
      runner.run(params, ctx.id, numberedWrites((firstSeq, events) => transport.notifyTurnEvents(params.turnId, firstSeq, events))),
      {
        onFailure: refusal,
        onSuccess: (summary): StreamResult => ({
          turnId: params.turnId,
          status: summary.status,
          ...(summary.threadId === undefined ? {} : { threadId: summary.threadId }),
          ...(summary.usage === undefined ? {} : { usage: summary.usage })
        })
      }
    )
  })

  const cancel = method(CancelParams, ({ turnId }) =>
    Effect.zipRight(initialized, Effect.map(turns.cancel(turnId), (cancelled) => ({ cancelled })))
  )

  const cancelRequest = (params: unknown) =>
    Effect.gen(function* () {
      const id = (params as { id?: unknown } | undefined)?.id
      if (typeof id === "string" || typeof id === "number") yield* turns.cancelRequest(id)
    })

  const noRollout = (threadId: string | undefined, why: string) =>
    new RpcFailure({ code: ErrorCode.NoRollout, message: `no rollout for this thread: ${why}`, data: { threadId } })

  const mutate = method(MutateParams, (params) =>
    Effect.gen(function* () {
      const config = yield* initialized
      const threadId = params.threadId ?? Option.getOrUndefined(yield* sessions.lastThread(params.agent.agentId, params.agent.workspace))
      if (threadId === undefined) return yield* noRollout(undefined, `agent ${params.agent.agentId} has no thread in ${params.agent.workspace}`)
      const path = yield* rollouts.find(threadId).pipe(Effect.mapError((e) => noRollout(threadId, e.message)))
      // Never rewrite under a running turn of this thread: hold the thread (a turn holds it
      // while codex runs and until its blocks are read), and have no engine keep it loaded.
      const result = yield* Effect.gen(function* () {
        yield* Effect.zipRight(exec.releaseThread(threadId), appServer.releaseThread(threadId)).pipe(
          Effect.mapError((e) => new RpcFailure({ code: ErrorCode.Internal, message: `cannot release thread ${threadId}: ${e.message}` }))
        )
        return yield* rollouts.mutate(path, params.mutations, config.consume_marker).pipe(
          Effect.mapError((e) =>
            e._tag === "ThreadInUse"
              ? new RpcFailure({ code: ErrorCode.ThreadInUse, message: "thread in use by another codex process", data: { threadId, reason: e.message } })
              : new RpcFailure({ code: ErrorCode.Internal, message: `cannot rewrite ${path}: ${e.message}` })
          )
        )
      }).pipe(turns.withThread(threadId))
      yield* Effect.logInfo("consume mirror applied").pipe(
        Effect.annotateLogs({ threadId, path, touched: result.touched, missing: result.missing.length })
      )
      return result
    })
  )

  const router: RpcRouter = {
    requests: new Map([
      ["initialize", initialize],
      ["shutdown", () => Effect.as(initialized, null)],
      ["provider/stream", stream],
      ["provider/cancel", cancel],
      ["session/mutate", mutate]
    ]),
    notifications: new Map([["$/cancelRequest", cancelRequest]]),
    inline: new Set(["initialize"]),
    // stdin ended: cancel running turns (their requests answer "cancelled"); the services close with the plugin.
    onShutdown: turns.cancelAll
  }
  return router
})
