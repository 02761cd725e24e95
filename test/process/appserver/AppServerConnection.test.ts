// The app-server's stdout as the connection reads it (src/core/LineStream.ts): a line over the
// limit and a line that is not JSON are skipped and what follows still arrives, the last line
// counts without a newline, and the exit reaches a thread's subscriber only after every
// notification the app-server wrote before it.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startAppServerConnection } from "../../../src/layers/AppServerConnectionLive.ts"
import { makeProcessGroups } from "../../../src/layers/ProcessGroupsLive.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "appserver-connection-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

// Answers `initialize` after an overlong line and a line that is not JSON; answers `finish` with
// a notification, then its answer without a newline, and exits.
const script = `
const send = (s, done) => process.stdout.write(s, done)
require("node:readline").createInterface({ input: process.stdin }).on("line", (l) => {
  const m = JSON.parse(l)
  if (m.method === "initialize") {
    send("x".repeat(5000) + "\\n" + "not json\\n" + JSON.stringify({ id: m.id, result: { userAgent: "fake/0.169.0 (test)" } }) + "\\n")
  } else if (m.method === "finish") {
    const note = { method: "turn/completed", params: { threadId: "t1", turn: { id: "u1", status: "completed" } } }
    send(JSON.stringify(note) + "\\n" + JSON.stringify({ id: m.id, result: { last: true } }), () => process.exit(0))
  }
})
`

/** A connection to the script above, in a temp dir. */
const connect = Effect.gen(function* () {
  const dir = yield* tempDir
  const groups = makeProcessGroups({ runningDir: join(dir, "running") })
  return yield* startAppServerConnection(
    { binary: process.execPath, args: ["-e", script], env: process.env, cwd: dir, maxLineBytes: 1024 },
    groups
  )
})

describe("app-server connection: its stdout", () => {
  it.scopedLive("skips what it cannot read, keeps the last line without a newline, and announces the exit after it", () =>
    Effect.gen(function* () {
      const conn = yield* connect
      expect(conn.version).toBe("0.169.0")
      const queue = yield* conn.subscribe("t1")
      expect(yield* conn.request("finish", {})).toEqual({ last: true })
      const first = yield* queue.take
      expect(first._tag === "Notification" && first.notification.method).toBe("turn/completed")
      const second = yield* queue.take
      expect(second._tag === "Exited" && second.error.reason).toBe("exit")
      expect(yield* conn.alive).toBe(false)
      expect((yield* Effect.flip(conn.request("after", {}))).reason).toBe("exit")
    }))

  it.scopedLive("a request the app-server does not answer fails with a timeout, and the connection goes on", () =>
    Effect.gen(function* () {
      const conn = yield* connect
      const unanswered = yield* Effect.flip(conn.request("nobody/answers", {}, 200))
      expect(unanswered.reason).toBe("timeout")
      expect(unanswered.message).toContain("did not answer nobody/answers within 200 ms")
      expect(yield* conn.request("finish", {})).toEqual({ last: true })
    }))
})
