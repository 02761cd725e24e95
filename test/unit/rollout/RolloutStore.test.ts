import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { RolloutStoreLive } from "../../../src/layers/RolloutStoreLive.ts"
import { PluginPaths } from "../../../src/services/PluginPaths.ts"
import { RolloutStore } from "../../../src/services/RolloutStore.ts"
import { MARKER, RECORDED_TWO_TURNS, tempDir } from "./RolloutTestKit.ts"

const THREAD = "01a21277-0aee-7391-8f57-254533d12121"

/** A CODEX_HOME with the recorded rollout where codex puts it, plus decoys. */
const makeHome = async () => {
  const home = await tempDir()
  const day = Path.join(home, "sessions", "2026", "11", "25")
  await Fs.mkdir(day, { recursive: true })
  const path = Path.join(day, `rollout-2026-11-25T11-28-41-${THREAD}.jsonl`)
  await Fs.copyFile(RECORDED_TWO_TURNS, path)
  // An older day, and a temp file of an interrupted mutation: neither must be picked.
  const older = Path.join(home, "sessions", "2026", "10", "01")
  await Fs.mkdir(older, { recursive: true })
  await Fs.writeFile(Path.join(older, `rollout-2026-10-01T00-00-00-${THREAD}.jsonl`), "old\n")
  await Fs.writeFile(Path.join(day, `.rollout-x-${THREAD}.jsonl.plexum-mutate.1.a.tmp`), "junk")
  const archived = Path.join(home, "archived_sessions")
  await Fs.mkdir(archived)
  await Fs.writeFile(Path.join(archived, "rollout-2025-01-01T00-00-00-archived-thread-1.jsonl"), "{}\n")
  return { home, path }
}

const storeIn = (home: string) =>
  RolloutStoreLive.pipe(
    Layer.provide(
      Layer.succeed(PluginPaths, { profileRoot: home, codexHome: home, pluginDir: home, configPath: "", stateDir: home })
    )
  )

describe("RolloutStore", () => {
  it.effect("finds a thread's rollout, newest day first, then archived_sessions", () =>
    Effect.gen(function* () {
      const { home, path } = yield* Effect.promise(makeHome)
      const store = yield* RolloutStore.pipe(Effect.provide(storeIn(home)))
      expect(yield* store.find(THREAD)).toBe(path)
      expect(yield* store.find("archived-thread-1")).toBe(Path.join(home, "archived_sessions", "rollout-2025-01-01T00-00-00-archived-thread-1.jsonl"))
      const missing = yield* store.find("0199ffff-0000-7000-8000-000000000000").pipe(Effect.flip)
      expect(missing).toMatchObject({ _tag: "RolloutNotFound", reason: "missing" })
      expect(missing.message).toBe("no rollout for thread 0199ffff-0000-7000-8000-000000000000")
    })
  )

  it.effect("refuses thread ids with path or glob characters without looking", () =>
    Effect.gen(function* () {
      const { home } = yield* Effect.promise(makeHome)
      const store = yield* RolloutStore.pipe(Effect.provide(storeIn(home)))
      for (const id of ["", "../x", "a/b", "..", "*", `${THREAD}/../${THREAD}`, "a\\b", "x\0y", ".hidden"]) {
        expect(yield* store.find(id).pipe(Effect.flip)).toMatchObject({ _tag: "RolloutNotFound", reason: "invalid" })
      }
    })
  )

  it.effect("reads tool calls, finds and mutates a thread, reports missing rollouts as typed errors", () =>
    Effect.gen(function* () {
      const { home, path } = yield* Effect.promise(makeHome)
      const store = yield* RolloutStore.pipe(Effect.provide(storeIn(home)))
      expect((yield* store.toolCalls(path)).map((c) => c.callId)).toEqual(["call_A1", "call_P1"])
      expect(yield* store.endOffset(path)).toBe((yield* Effect.promise(() => Fs.stat(path))).size)
      const result = yield* store.mutate(yield* store.find(THREAD), [{ blockId: "call_P1", op: "heavy" }, { blockId: "zz", op: "light" }], MARKER)
      expect(result).toEqual({ touched: 2, missing: ["zz"] })
      expect((yield* store.toolCalls(path)).map((c) => c.output)[1]).toBe(MARKER)
      const gone = Path.join(home, "nope.jsonl")
      expect(yield* store.toolCalls(gone).pipe(Effect.flip)).toMatchObject({ _tag: "RolloutReadError", path: gone })
      expect(yield* store.mutate(gone, [{ blockId: "a", op: "light" }], MARKER).pipe(Effect.flip)).toMatchObject({
        _tag: "RolloutReadError"
      })
      expect(yield* store.endOffset(gone)).toBe(0)
    })
  )


})
