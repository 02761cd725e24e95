// The plugin's own files and directories are private whatever the umask (src/core/PrivateFiles.ts,
// src/core/AtomicFile.ts); what an earlier version left readable is repaired.
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { writeFileAtomic, writeFileAtomicSync } from "../../../src/core/AtomicFile.ts"
import { ensurePrivateDirSync, privatizeTree } from "../../../src/core/PrivateFiles.ts"

const temps: Array<string> = []
afterEach(() => {
  while (temps.length) Fs.rmSync(temps.pop()!, { recursive: true, force: true })
})
const tempDir = () => {
  const d = Fs.mkdtempSync(Path.join(Os.tmpdir(), "private-files-"))
  temps.push(d)
  return d
}
const mode = (path: string) => Fs.lstatSync(path).mode & 0o777

/** Runs `f` with the process umask set to `mask`, the way a host may start the plugin. */
const withUmask = async <A>(mask: number, f: () => Promise<A> | A): Promise<A> => {
  const before = process.umask(mask)
  try {
    return await f()
  } finally {
    process.umask(before)
  }
}

describe("private files", () => {
  it("creates missing directories 0700 and files 0600 under umask 022 and 0277 alike", async () => {
    for (const mask of [0o022, 0o277]) {
      const root = tempDir()
      const dir = Path.join(root, "state", "sessions")
      await withUmask(mask, async () => {
        ensurePrivateDirSync(dir)
        await writeFileAtomic(Path.join(dir, "a.json"), "{}")
        writeFileAtomicSync(Path.join(dir, "b.json"), "{}")
      })
      expect([mode(Path.join(root, "state")), mode(dir)]).toEqual([0o700, 0o700])
      expect([mode(Path.join(dir, "a.json")), mode(Path.join(dir, "b.json"))]).toEqual([0o600, 0o600])
    }
  })

  it("leaves existing parents alone and repairs the directory it is asked for", () => {
    const root = tempDir()
    Fs.chmodSync(root, 0o755)
    const dir = Path.join(root, "running")
    Fs.mkdirSync(dir, { mode: 0o755 })
    Fs.chmodSync(dir, 0o755)
    ensurePrivateDirSync(dir)
    expect([mode(root), mode(dir)]).toEqual([0o755, 0o700])
  })

  it("replacing a file keeps it 0600 even when the old one was readable by others", async () => {
    const file = Path.join(tempDir(), "record.json")
    Fs.writeFileSync(file, "old", { mode: 0o644 })
    Fs.chmodSync(file, 0o644)
    await writeFileAtomic(file, "new")
    expect([Fs.readFileSync(file, "utf8"), mode(file)]).toEqual(["new", 0o600])
  })

  it("makes a whole tree private, says what it changed, and follows no symlink out of it", () => {
    const root = tempDir()
    const outside = Path.join(tempDir(), "outside.txt")
    Fs.writeFileSync(outside, "not ours to change", { mode: 0o644 })
    Fs.chmodSync(outside, 0o644)
    const state = Path.join(root, "state")
    Fs.mkdirSync(Path.join(state, "sessions"), { recursive: true })
    Fs.writeFileSync(Path.join(state, "sessions", "x.json"), "{}", { mode: 0o644 })
    Fs.writeFileSync(Path.join(state, "ok.json"), "{}", { mode: 0o600 })
    Fs.symlinkSync(outside, Path.join(state, "link"))
    Fs.chmodSync(state, 0o755)
    Fs.chmodSync(Path.join(state, "sessions"), 0o775)
    Fs.chmodSync(Path.join(state, "sessions", "x.json"), 0o644)
    const { repaired, failed } = privatizeTree(state)
    expect([...repaired].sort()).toEqual([state, Path.join(state, "sessions"), Path.join(state, "sessions", "x.json")].sort())
    expect(failed).toEqual([])
    expect([mode(state), mode(Path.join(state, "sessions")), mode(Path.join(state, "sessions", "x.json")), mode(Path.join(state, "ok.json"))]).toEqual([
      0o700, 0o700, 0o600, 0o600
    ])
    expect(mode(outside)).toBe(0o644)
    expect(privatizeTree(Path.join(root, "missing"))).toEqual({ repaired: [], failed: [] })
  })
})
