// Where an agent's bridge socket lives (PROTOCOL.md §7): private, short, stable, one per agent.
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { ensurePrivateDir, makeTempSocketDir, removeStaleTempSocketDirs, socketDirFor, socketPathFor } from "../../../src/core/bridge/SocketPath.ts"

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
  it("stays under 100 bytes, and gives none where the profile's own directory would not fit", () => {
    const longRoot = "/" + Array.from({ length: 20 }, (_, i) => `deeply-nested-directory-${i}`).join("/")
    for (const id of ids) {
      expect(Buffer.byteLength(socketPathFor("/home/u/.plexum", id)!), id).toBeLessThan(100)
      // Each turn then makes a directory of its own in /tmp (ToolBridgeLive, makeTempSocketDir).
      expect(socketPathFor(longRoot, id)).toBeUndefined()
    }
  })

  it("puts the socket under the profile when it fits", () => {
    expect(socketPathFor("/home/u/.plexum", "agent-1")!.startsWith("/home/u/.plexum/plugins/plexum-openai-provider/sock/")).toBe(true)
  })

  it("depends only on profile root and agent id, not on TMPDIR", () => {
    const root = "/x/" + "y".repeat(20)
    const before = socketPathFor(root, "agent-1")
    const saved = process.env.TMPDIR
    process.env.TMPDIR = "/some/other/tmp/" + "z".repeat(80)
    try {
      expect(socketPathFor(root, "agent-1")).toBe(before)
    } finally {
      if (saved === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = saved
    }
    expect(socketPathFor("/x/" + "w".repeat(20), "agent-1")).not.toBe(before)
  })

  it("gives distinct agents distinct paths, all inside the one socket directory", () => {
    for (const root of ["/home/u/.plexum", "/x/" + "y".repeat(20)]) {
      const paths = ids.map((id) => socketPathFor(root, id)!)
      expect(new Set(paths).size).toBe(ids.length)
      for (const p of paths) {
        expect(Path.dirname(p)).toBe(socketDirFor(root))
        expect(Path.normalize(p)).toBe(p)
      }
    }
  })
})

describe("the runtime directory", () => {
  it("holds the sockets when it is a private directory of ours, one directory per profile", () => {
    const runtime = tempDir()
    Fs.chmodSync(runtime, 0o700)
    const dir = socketDirFor("/home/u/.plexum", runtime)!
    expect(Path.dirname(dir)).toBe(runtime)
    expect(Path.basename(dir)).toMatch(/^plexum-openai-provider-[0-9a-f]{12}$/)
    expect(socketDirFor("/home/v/.plexum", runtime)).not.toBe(dir)
    expect(Path.dirname(socketPathFor("/home/u/.plexum", "agent-1", runtime)!)).toBe(dir)
    // It fits even where the profile's own path would not.
    expect(Path.dirname(socketDirFor("/x/" + "y".repeat(120), runtime)!)).toBe(runtime)
  })

  it("is not used when others may enter it, when it is relative, or when it does not exist", () => {
    const open = tempDir()
    Fs.chmodSync(open, 0o755)
    const profileDir = "/home/u/.plexum/plugins/plexum-openai-provider/sock"
    expect(socketDirFor("/home/u/.plexum", open)).toBe(profileDir)
    expect(socketDirFor("/home/u/.plexum", "run/user/1000")).toBe(profileDir)
    expect(socketDirFor("/home/u/.plexum", Path.join(open, "missing"))).toBe(profileDir)
    expect(socketDirFor("/home/u/.plexum", "")).toBe(profileDir)
  })
})

describe("a turn's own socket directory in /tmp", () => {
  it("has a random name no one can create first, mode 0700, made in one step", () => {
    const made = [makeTempSocketDir(), makeTempSocketDir()]
    temps.push(...made)
    for (const dir of made) {
      expect(dir).toMatch(new RegExp(`^/tmp/plexum-mcp-${process.pid}-[A-Za-z0-9]{6}$`))
      expect(Fs.statSync(dir).mode & 0o777).toBe(0o700)
    }
    expect(made[0]).not.toBe(made[1])
  })

  it("left by a plugin that is gone, is removed by the next; a live plugin's, and other names, are not", () => {
    const dead = 999_999_999
    const left = Fs.mkdtempSync(`/tmp/plexum-mcp-${dead}-`)
    Fs.writeFileSync(Path.join(left, "a-0123.sock"), "")
    const live = Fs.mkdtempSync(`/tmp/plexum-mcp-${process.ppid}-`)
    const other = Fs.mkdtempSync(`/tmp/plexum-mcp-${dead}-other-`)
    // The fork server's directory (src/core/ForkServer.ts), left by a plugin SIGKILLed while its perl was not running.
    const launch = Fs.mkdtempSync(`/tmp/plexum-launch-${dead}-`)
    const own = makeTempSocketDir()
    temps.push(left, live, other, launch, own)
    const removed = removeStaleTempSocketDirs((pid) => pid !== dead)
    expect(removed).toContain(left)
    expect(removed).toContain(launch)
    expect(removed.filter((d) => [live, other, own].includes(d))).toEqual([])
    expect([left, live, other, launch, own].map((d) => Fs.existsSync(d))).toEqual([false, true, true, false, true])
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
