/**
 * Shared helpers for `npm run bench`. Every figure is a ratio against a
 * baseline measured side by side in the same run (alternating A/B), never an
 * absolute time asserted anywhere.
 */
import { spawn } from "node:child_process"

/** One section of docs/benchmarks.md, produced by a `bench/*.bench.ts` module's `run()`. */
export interface BenchSection {
  readonly title: string
  /** Markdown body: what was measured, the table of figures, the target and whether it was met. */
  readonly markdown: string
  /** Whether every target of this section was met. */
  readonly ok: boolean
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Runs `a` and `b` alternately `rounds` times (after `warmup` rounds), returning their wall times in ms. */
export const alternate = async (
  rounds: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  warmup = 2
): Promise<{ a: Array<number>; b: Array<number> }> => {
  const out = { a: [] as Array<number>, b: [] as Array<number> }
  for (let i = 0; i < warmup + rounds; i++) {
    const order: Array<["a" | "b", () => Promise<unknown>]> = i % 2 ? [["b", b], ["a", a]] : [["a", a], ["b", b]]
    for (const [key, fn] of order) {
      const t0 = performance.now()
      await fn()
      const dt = performance.now() - t0
      if (i >= warmup) out[key].push(dt)
    }
  }
  return out
}

/** Medians of `a` and `b` run alternately, and their ratio a/b (the figure every target is about). */
export const medianRatio = async (rounds: number, a: () => Promise<unknown>, b: () => Promise<unknown>) => {
  const times = await alternate(rounds, a, b)
  const ma = median(times.a)
  const mb = median(times.b)
  return { a: ma, b: mb, ratio: ma / mb }
}

export interface ChildRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** Peak resident set size of the child in bytes (from /proc via wait4's rusage when available). */
  readonly maxRssBytes: number | undefined
}

/** Runs a command to completion; `maxRssBytes` is measured with GNU time when it is installed. */
export const runChild = (cmd: string, args: ReadonlyArray<string>, opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}) =>
  new Promise<ChildRun>((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.stderr.on("data", (d: Buffer) => err.push(d))
    child.on("error", reject)
    child.on("close", (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), maxRssBytes: undefined })
    )
    child.stdin.end(opts.input ?? "")
  })

export const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`
export const fmtRatio = (r: number) => `${r.toFixed(2)}×`
export const fmtMB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
