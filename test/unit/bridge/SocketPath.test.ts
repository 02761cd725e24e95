// Where an agent's bridge socket lives (PROTOCOL.md §7): private, short, stable, one per agent.
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { ensurePrivateDir, socketDirFor, socketPathFor } from "../../../src/core/bridge/SocketPath.ts"

const temps: Array<string> = []
afterEach(() => {
  while (temps.length) Fs.rmSync(temps.pop()!, { recursive: true, force: true })
})
const tempDir = () => {
  const d = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sockpath-"))
  temps.push(d)
  return d
}

const ids = ["agent-1", "a.b", "a_b", "a/b", "../../escape", "/abs/olute", "a".repeat(300), "🙂", ""]

describe("socketPathFor", () => {
  it("stays under 100 bytes even for a very long profile root", () => {
    const longRoot = "/" + Array.from({ length: 20 }, (_, i) => `deeply-nested-directory-${i}`).join("/")
    for (const root of ["/home/u/.plexum", longRoot]) {
      for (const id of ids) expect(Buffer.byteLength(socketPathFor(root, id)), `${root} ${id}`).toBeLessThan(100)
    }
  })

  it("puts the socket under the profile when it fits", () => {
    expect(socketPathFor("/home/u/.plexum", "agent-1").startsWith("/home/u/.plexum/plugins/plexum-openai-provider/sock/")).toBe(true)
  })

  it("depends only on profile root and agent id, not on TMPDIR", () => {
    const longRoot = "/x/" + "y".repeat(120)
    const before = socketPathFor(longRoot, "agent-1")
    const saved = process.env.TMPDIR
    process.env.TMPDIR = "/some/other/tmp/" + "z".repeat(80)
    try {
      expect(socketPathFor(longRoot, "agent-1")).toBe(before)
    } finally {
      if (saved === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = saved
    }
    expect(socketPathFor("/x/" + "w".repeat(120), "agent-1")).not.toBe(before)
  })

  it("gives distinct agents distinct paths, all inside the one socket directory", () => {
    for (const root of ["/home/u/.plexum", "/x/" + "y".repeat(120)]) {
      const paths = ids.map((id) => socketPathFor(root, id))
      expect(new Set(paths).size).toBe(ids.length)
      for (const p of paths) {
        expect(Path.dirname(p)).toBe(socketDirFor(root))
        expect(Path.normalize(p)).toBe(p)
      }
    }
  })
})

describe("ensurePrivateDir", () => {
  it("creates the directory with mode 0700", () => {
    const dir = Path.join(tempDir(), "a", "sock")
    ensurePrivateDir(dir)
    expect(Fs.statSync(dir).mode & 0o777).toBe(0o700)
  })

  it("repairs a directory others can read", () => {
    const dir = Path.join(tempDir(), "sock")
    Fs.mkdirSync(dir, { mode: 0o755 })
    Fs.chmodSync(dir, 0o777)
    ensurePrivateDir(dir)
    expect(Fs.statSync(dir).mode & 0o777).toBe(0o700)
  })

  it("refuses a symlink in place of the directory", () => {
    const base = tempDir()
    Fs.mkdirSync(Path.join(base, "elsewhere"))
    Fs.symlinkSync(Path.join(base, "elsewhere"), Path.join(base, "sock"))
    expect(() => ensurePrivateDir(Path.join(base, "sock"))).toThrow(/not a directory/)
  })
})
