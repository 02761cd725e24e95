import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { locateRollout, makeKeptListing } from "../../../src/core/rollout/RolloutLocate.ts"
import { tempDir } from "./RolloutTestKit.ts"

const id = (n: number) => `01a24d70-0000-7000-8000-${String(n).padStart(12, "0")}`
const aDayAgo = new Date(Date.now() - 86_400_000)

describe("locateRollout with kept listings", () => {
  it("finds a rollout codex wrote into a day whose listing was kept, and forgets one that moved", async () => {
    const home = await tempDir()
    const day = Path.join(home, "sessions", "2026", "11", "25")
    await Fs.mkdir(day, { recursive: true })
    await Fs.writeFile(Path.join(day, `rollout-2026-11-25T10-00-00-${id(1)}.jsonl`), "{}\n")
    // Settled directories: their listings are kept.
    for (const dir of [day, Path.dirname(day), Path.dirname(Path.dirname(day)), Path.join(home, "sessions")]) await Fs.utimes(dir, aDayAgo, aDayAgo)
    const list = makeKeptListing()
    expect(await locateRollout(home, id(2), list)).toBeUndefined()
    expect(await locateRollout(home, id(1), list)).toBe(Path.join(day, `rollout-2026-11-25T10-00-00-${id(1)}.jsonl`))
    // A thread resumed on a later day still has its file in the old day; a new one appears there too.
    const added = Path.join(day, `rollout-2026-11-25T11-00-00-${id(2)}.jsonl`)
    await Fs.writeFile(added, "{}\n")
    expect(await locateRollout(home, id(2), list)).toBe(added)
    // Archived: gone from sessions/, found in archived_sessions/.
    await Fs.mkdir(Path.join(home, "archived_sessions"))
    const archived = Path.join(home, "archived_sessions", Path.basename(added))
    await Fs.rename(added, archived)
    expect(await locateRollout(home, id(2), list)).toBe(archived)
  })

  it("takes only files: a directory named like a rollout is not one", async () => {
    const home = await tempDir()
    const day = Path.join(home, "sessions", "2026", "11", "25")
    await Fs.mkdir(Path.join(day, `rollout-2026-11-25T10-00-00-${id(3)}.jsonl`), { recursive: true })
    expect(await locateRollout(home, id(3), makeKeptListing())).toBeUndefined()
  })
})
