// What the shared app-server holds follows the active agents (PROTOCOL.md §8): a thread no turn
// has used for `thread_idle_unload_sec` is unloaded (codex 0.169 and later), so codex lets go of
// its writer lock (the user's own `codex resume` of it works again), and the agent's next turn
// resumes it as before.
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { flockHolders } from "../../src/core/rollout/RolloutWriters.ts"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { waitFor } from "../support/Processes.ts"
import { codexAtLeast } from "../support/CodexVersion.ts"
import { assistantMessage, requestText } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

describe("app-server engine: idle threads", () => {
  it("unloads a thread idle for thread_idle_unload_sec, freeing codex's writer lock; the next turn resumes it", async () => {
    harness = await startPluginHarness((req) => ({ items: [assistantMessage(`answer ${req.index}`)] }), {
      config: { engine: "app-server", thread_idle_unload_sec: 1 }
    })
    const h = harness
    const first = await h.turn("t1", { messages: [userMessage("remember PLUM")] })
    expect(first.response.result.status).toBe("completed")
    const threadId = first.response.result.threadId as string
    const lock = join(h.codexHome, "thread-writer-locks", `${threadId}.lock`)
    const unloaded = () => h.host.logs.some((l) => l.level === "info" && String(l.message).includes(`unloaded idle thread ${threadId}`))
    if (codexAtLeast("0.169.0")) {
      // Loaded after its turn: the app-server holds codex's writer lock of it, until the idle unload.
      expect(flockHolders(lock).length).toBeGreaterThan(0)
      expect(await waitFor(unloaded, 15_000)).toBe(true)
      expect(flockHolders(lock)).toEqual([])
    } else {
      // Before 0.169 unloading archives and unarchives the user's rollout: never on a timer.
      await new Promise((r) => setTimeout(r, 3_000))
      expect(unloaded()).toBe(false)
    }
    const second = await h.turn("t2", { messages: [userMessage("remember PLUM"), { role: "assistant", content: "answer 0" }, userMessage("what was it?")] })
    expect(second.response.result).toMatchObject({ status: "completed", threadId })
    expect(second.events[0]).toMatchObject({ type: "turn.started", resumed: true, threadId })
    // Resumed from the rollout: the model still sees the first turn.
    expect(requestText(h.model.requests.at(-1)!)).toContain("remember PLUM")
    expect(h.host.logs.filter((l) => l.level === "warn" || l.level === "error")).toEqual([])
  }, 60_000)
})
