// Every command starts from the V8 code cache that `npm install` builds (bin/plexum-openai-provider-plugin):
// `serve` changes V8's collector flags, and a cache is accepted only under the flags it was made with,
// so `serve` must change them only after compiling and write a cache as the other commands read it.
// A rejected cache is rewritten on exit, and each command would keep recompiling from scratch.
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { pluginBin } from "../../support/ReferenceHost.ts"

const repo = Path.resolve(Path.dirname(pluginBin), "..")
const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "plexum-cache-"))
// A copy of the executable and its bundle, so the repository's own cache is never touched.
Fs.mkdirSync(Path.join(root, "install", "bin"), { recursive: true })
Fs.mkdirSync(Path.join(root, "install", "dist"))
Fs.copyFileSync(pluginBin, Path.join(root, "install", "bin", Path.basename(pluginBin)))
Fs.copyFileSync(Path.join(repo, "package.json"), Path.join(root, "install", "package.json"))
Fs.copyFileSync(Path.join(repo, "dist", "main.cjs"), Path.join(root, "install", "dist", "main.cjs"))
const bin = Path.join(root, "install", "bin", Path.basename(pluginBin))
const cache = Path.join(root, "install", "dist", "main.cjs.cache")
afterAll(() => Fs.rmSync(root, { recursive: true, force: true }))

const run = (args: ReadonlyArray<string>, as: { uid?: number; gid?: number } = {}) => {
  const r = spawnSync(bin, [...args], {
    input: "", // `serve` ends when stdin does
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, PLEXUM_PROFILE_ROOT: Path.join(root, "profile"), CODEX_HOME: Path.join(root, "codex-home") },
    ...as
  })
  expect(r.status, r.stderr).toBe(0)
  return r
}
const written = () => Fs.statSync(cache).mtimeMs
const distFiles = () => Fs.readdirSync(Path.dirname(cache)).sort()

/**
 * Runs `args` as a user who cannot write dist/, as for a global install by root run by anyone else:
 * as uid 65534 when the tests run as root (root writes anywhere), else with dist/ made read-only.
 */
const runReadOnly = (args: ReadonlyArray<string>) => {
  const dist = Path.dirname(cache)
  if (process.getuid?.() === 0) {
    for (const dir of [root, Path.join(root, "install"), Path.join(root, "install", "bin"), dist]) Fs.chmodSync(dir, 0o755)
    return run(args, { uid: 65534, gid: 65534 })
  }
  Fs.chmodSync(dist, 0o555)
  try {
    return run(args)
  } finally {
    Fs.chmodSync(dist, 0o755)
  }
}

describe("the V8 code cache", () => {
  it.each([
    ["serve", ["serve"], ["manifest"]],
    ["manifest", ["manifest"], ["serve"]]
  ])("written by %s is used as it is by the other commands", (_, writer, other) => {
    Fs.rmSync(cache, { force: true })
    run(writer)
    const first = written()
    for (const args of [other, writer, [], ["rollout", "list", "--codex-home", Path.join(root, "codex-home")]]) {
      run(args)
      expect(written(), `after ${args.join(" ") || "(serve)"}`).toBe(first)
    }
  })

  it("shipped with the package (made by the build) is used as it is", () => {
    Fs.copyFileSync(Path.join(repo, "dist", "main.cjs.cache"), cache)
    const shipped = written()
    for (const args of [["manifest"], ["serve"], ["doctor", "--help"]]) {
      run(args)
      expect(written(), args.join(" ")).toBe(shipped)
    }
  })

  it("is never needed: an install folder this user cannot write runs every command and gains no file", () => {
    Fs.rmSync(cache, { force: true })
    const before = distFiles()
    for (const args of [["manifest"], ["serve"], ["--version"]]) {
      const r = runReadOnly(args)
      expect(r.stderr, args.join(" ")).toBe("")
    }
    expect(distFiles()).toEqual(before)
    // A cache from another node (here: garbage) is rejected, used by no one, and left as it is.
    Fs.writeFileSync(cache, "not a V8 code cache")
    runReadOnly(["manifest"])
    expect(Fs.readFileSync(cache, "utf8")).toBe("not a V8 code cache")
  })

  it("that cannot be replaced leaves no temporary file behind", () => {
    Fs.rmSync(cache, { force: true })
    Fs.mkdirSync(cache) // a directory where the cache file would go: the rename fails, even for root
    try {
      run(["manifest"])
      expect(distFiles().filter((f) => f.startsWith("main.cjs.cache."))).toEqual([])
    } finally {
      Fs.rmSync(cache, { recursive: true, force: true })
    }
  })
})
