/**
 * Test layers for driving the protocol handlers in process: temp plugin paths, a TurnRunner that
 * plays a turn without codex, and stores and engines that answer only what a test asks of them.
 * Turns and ActiveConfig are the real layers, so admission, busy agents and cancel are real.
 */
import { Chunk, Deferred, Effect, Layer, Option, Stream } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { ActiveConfigLive } from "../../src/layers/ActiveConfigLive.ts"
import { TurnsLive } from "../../src/layers/TurnsLive.ts"
import type { TurnEvent, Usage } from "../../src/schemas/Protocol.ts"
import { ActiveConfig } from "../../src/services/PluginConfig.ts"
import { PluginPaths, resolvePluginPaths } from "../../src/services/PluginPaths.ts"
import { RolloutNotFound, RolloutStore, ThreadInUse } from "../../src/services/RolloutStore.ts"
import { SessionStore } from "../../src/services/SessionStore.ts"
import { AppServerEngine, ExecEngine } from "../../src/services/TurnEngine.ts"
import { TurnRunner, type TurnSummary } from "../../src/services/TurnRunner.ts"
import { Turns } from "../../src/services/Turns.ts"
import { InMemoryTransport } from "./InMemoryStdio.ts"

/** A profile and CODEX_HOME in a fresh temp directory, removed afterwards. */
export const TempPluginPaths = Layer.scoped(
  PluginPaths,
  Effect.acquireRelease(
    Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "plexum-handlers-"))),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  ).pipe(Effect.map((dir) => resolvePluginPaths({ PLEXUM_PROFILE_ROOT: Path.join(dir, "profile"), CODEX_HOME: Path.join(dir, "codex") })))
)

/** Writes the plugin's config.json. */
export const writeConfig = (config: Record<string, unknown>) =>
  Effect.flatMap(PluginPaths, (paths) =>
    Effect.promise(async () => {
      await Fs.mkdir(paths.pluginDir, { recursive: true })
      await Fs.writeFile(paths.configPath, JSON.stringify(config))
    })
  )

export const THREAD = "0199aaaa-0000-7000-8000-000000000001"
export const USAGE: Usage = { inputTokens: 10, cachedInputTokens: 2, outputTokens: 5, reasoningOutputTokens: 1 }

/**
 * A turn without codex, admitted by the real Turns: `turn.started` and a message, then
 * `turn.completed` with USAGE; a turn whose first message says "wait for cancel" waits until it is
 * cancelled and ends `turn.failed {code: "cancelled"}`, as the real runner does.
 */
export const TurnRunnerDouble = Layer.effect(
  TurnRunner,
  Effect.gen(function* () {
    const turns = yield* Turns
    const activeConfig = yield* ActiveConfig
    return {
      run: (params, requestId, write) =>
        Effect.scoped(
          Effect.gen(function* () {
            yield* activeConfig.current
            const cancelled = yield* Deferred.make<void>()
            yield* turns.admit({ turnId: params.turnId, agentId: params.agent.agentId, requestId, onCancel: Deferred.succeed(cancelled, undefined) })
            yield* write(Chunk.unsafeFromArray<TurnEvent>([
              { type: "turn.started", threadId: THREAD, resumed: false },
              { type: "message", itemId: "m1", text: "hello" }
            ]))
            if (JSON.stringify(params.request.messages).includes("wait for cancel")) {
              yield* Deferred.await(cancelled)
              yield* write(Chunk.of<TurnEvent>({ type: "turn.failed", code: "cancelled", message: "the turn was cancelled" }))
              return { status: "cancelled", threadId: THREAD, usage: undefined } satisfies TurnSummary
            }
            yield* write(Chunk.of<TurnEvent>({ type: "turn.completed", finalMessage: "hello", usage: USAGE }))
            return { status: "completed", threadId: THREAD, usage: USAGE } satisfies TurnSummary
          })
        )
    }
  })
)

/**
 * Rollouts: THREAD's is found and cannot be rewritten because another codex holds it; every
 * other thread has none.
 */
export const RolloutStoreDouble = Layer.succeed(RolloutStore, {
  find: (threadId) =>
    threadId === THREAD
      ? Effect.succeed(`/rollouts/${threadId}.jsonl`)
      : Effect.fail(new RolloutNotFound({ threadId, reason: "missing", message: `no rollout of ${threadId}` })),
  mutate: () => Effect.fail(new ThreadInUse({ threadId: THREAD, message: "codex pid 4242 holds the thread" })),
  endOffset: () => Effect.die("not used"),
  lastUsageTotal: () => Effect.die("not used"),
  toolCalls: () => Effect.die("not used"),
  report: () => Effect.die("not used")
})

/** No agent has a thread yet. */
export const SessionStoreDouble = Layer.succeed(SessionStore, {
  lastThread: () => Effect.succeed(Option.none()),
  remember: () => Effect.void,
  list: () => Effect.die("not used")
})

const engine = { run: () => Stream.die("not used"), releaseThread: () => Effect.void }
export const EnginesDouble = Layer.merge(
  Layer.succeed(ExecEngine, engine),
  Layer.succeed(AppServerEngine, { ...engine, support: () => Effect.die("not used") })
)

/** Everything `makeProtocolRouter` needs, with the host's end in `TestHost`. */
export const ProtocolTestLayer = Layer.mergeAll(TurnRunnerDouble, RolloutStoreDouble, SessionStoreDouble, EnginesDouble).pipe(
  Layer.provideMerge(Layer.mergeAll(TurnsLive, ActiveConfigLive, InMemoryTransport, TempPluginPaths))
)
