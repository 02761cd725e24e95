// `npm run demo`: the plugin's main job end to end, as a Plexum host sees it.
//
//   npm run demo                 offline: a built-in scripted model on loopback, temp CODEX_HOME
//   npm run demo -- --keep       ... and keep the temp directories to look at the rollout afterwards
//   npm run demo -- --live       the same story on your own codex login (real CODEX_HOME, default model)
//   npm run demo -- --plugin P   the same story through another copy of the executable, e.g. an installed one
//
// The host is test/support/ReferenceHost.ts driving the real executable
// (bin/plexum-openai-provider-plugin); the offline model is test/support/ScriptedModelServer.ts.
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { homedir, tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import { parseArgs } from "node:util"
import { findExecutable } from "../src/core/doctor/DoctorRun.ts"
import { codexBin, codexOfflineArgs } from "../test/support/CodexOffline.ts"
import { makeProfile, pluginBin, startReferenceHost } from "../test/support/ReferenceHost.ts"
import { startScriptedModelServer } from "../test/support/ScriptedModelServer.ts"
import { line, paint, styleFor } from "./Renderer.ts"
import { demoModelScript } from "./ScriptedModel.ts"
import { answerToolCall, DemoFailure, flushEvents, tellStory } from "./Story.ts"

const USAGE = `usage: npm run demo [-- --keep] [-- --live] [-- --engine exec|app-server] [-- --plugin PATH]
  --engine  exec (default: one codex exec per turn) or app-server (a long-lived codex app-server;
            the assistant's text arrives as it is written)
  --plugin  the plugin executable to run (default: this checkout's bin/plexum-openai-provider-plugin),
            e.g. $(npm prefix -g)/bin/plexum-openai-provider-plugin to try an installed copy
  --keep   keep the temp CODEX_HOME, workspace and profile (to run \`rollout inspect\` afterwards)
  --live   run against your own codex login (CODEX_HOME or ~/.codex, codex's default model)`

const style = styleFor(process.stdout, process.env)
const out = (text: string) => process.stdout.write(`${text}\n`)
const fail = (text: string) => process.stderr.write(`${paint(styleFor(process.stderr, process.env), "red", "demo failed:")} ${text}\n`)

/** Undone in reverse order on every exit path (success, failure, Ctrl-C, watchdog). */
const cleanups: Array<() => Promise<void> | void> = []
let cleaning: Promise<void> | undefined
const cleanup = () =>
  (cleaning ??= (async () => {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()!()
      } catch (e) {
        process.stderr.write(`demo: cleanup step failed: ${String(e)}\n`)
      }
    }
  })())

let interrupted = false
const exitAfterCleanup = (code: number) => {
  void cleanup().finally(() => process.exit(code))
}

const NOTES = "# Team notes\n- PLX-42 came in from support on Monday\n- the Safari build is flaky\n"

/** A path as the user can type it from here: relative when under the current directory. */
const typeable = (path: string): string => {
  const rel = relative(process.cwd(), path)
  return rel !== "" && !rel.startsWith("..") ? rel : path
}

const main = async (): Promise<number> => {
  let args
  try {
    args = parseArgs({
      options: {
        keep: { type: "boolean" },
        live: { type: "boolean" },
        engine: { type: "string" },
        plugin: { type: "string" },
        help: { type: "boolean", short: "h" }
      }
    })
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`)
    return 2
  }
  if (args.values.help) {
    out(USAGE)
    return 0
  }
  const keep = args.values.keep === true
  const live = args.values.live === true
  const engine = args.values.engine ?? "exec"
  if (engine !== "exec" && engine !== "app-server") {
    fail(`--engine must be exec or app-server, not ${JSON.stringify(engine)}\n${USAGE}`)
    return 2
  }
  const plugin = args.values.plugin === undefined ? pluginBin : resolve(args.values.plugin)
  if (!existsSync(plugin)) {
    fail(`--plugin: ${plugin} does not exist\n${USAGE}`)
    return 2
  }

  const root = await mkdtemp(join(tmpdir(), "plexum-demo-"))
  if (!keep) cleanups.push(() => rm(root, { recursive: true, force: true }))
  const workspace = join(root, "workspace")
  await mkdir(workspace)
  await writeFile(join(workspace, "notes.md"), NOTES)
  await writeFile(join(workspace, "README.md"), "A scratch workspace made by `npm run demo`.\n")

  // The model: a scripted server on loopback, or the user's codex login and default model.
  let codexHome: string
  let config: Record<string, unknown>
  let modelRequests
  let codexBinary: string
  if (live) {
    codexHome = resolve(process.env.CODEX_HOME || join(homedir(), ".codex"))
    codexBinary = findExecutable("codex", process.env) ?? codexBin
    // Say what is missing up front rather than through a failed turn.
    if (!existsSync(codexHome)) throw new DemoFailure(`--live needs your codex home, but ${codexHome} does not exist: run \`codex login\` first`)
    const loggedIn =
      existsSync(join(codexHome, "auth.json")) || (process.env.OPENAI_API_KEY ?? "") !== "" || (process.env.CODEX_API_KEY ?? "") !== ""
    if (!loggedIn) throw new DemoFailure(`--live needs a codex login: run \`CODEX_HOME=${codexHome} codex login\` or set OPENAI_API_KEY`)
    config = { binary: codexBinary, turn_timeout_ms: 300_000, engine }
  } else {
    const server = await startScriptedModelServer(demoModelScript)
    cleanups.push(() => server.close())
    modelRequests = server.requests
    codexHome = join(root, "codex-home")
    await mkdir(codexHome)
    codexBinary = codexBin
    config = { binary: codexBinary, extra_args: codexOfflineArgs(server.baseUrl), turn_timeout_ms: 60_000, engine }
  }
  const profile = await makeProfile(config)
  if (!keep) cleanups.push(() => profile.cleanup())

  const agentId = live ? "plexum-demo-live" : "demo-agent"

  out(paint(style, "bold", `plexum-openai-provider demo (${live ? "live: your codex login" : "offline: built-in scripted model"}, engine ${engine})`))
  out(line(style, "plugin", "dim", `${typeable(plugin)} (PLEXUM_PROFILE_ROOT=${profile.root})`))
  out(line(style, "codex", "dim", `${codexBinary} (CODEX_HOME=${codexHome})`))

  const host = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: codexHome }, command: [plugin] })
  cleanups.push(() => host.dispose()) // closing stdin makes the plugin end codex and mcp-host
  host.onToolCall(answerToolCall({ out, style }, flushEvents))

  const init = await host.initialize()
  if (init.error) throw new DemoFailure(`initialize failed: ${init.error.code} ${init.error.message}`)
  out(line(style, "initialize", "dim", `manifest ${init.result.manifest.name} ${init.result.manifest.version}, models ${init.result.manifest.contracts.provider.models.join(", ")}`))

  let story
  try {
    story = await tellStory({ host, style, out, workspace, codexHome, agentId, modelRequests, turnTimeoutMs: live ? 300_000 : 45_000 })
  } catch (e) {
    if (e instanceof DemoFailure) {
      const tail = host.stderr.trim().split("\n").slice(-15).join("\n")
      if (tail !== "") process.stderr.write(`plugin stderr (last lines):\n${tail}\n`)
    }
    throw e
  }

  out(`\n${paint(style, "bold", "Summary")}`)
  out(line(style, "thread", "bold", story.threadId))
  out(line(style, "consumed", "dim", `${story.consumed.length} tool call(s): ${story.consumed.join(", ")}`))
  const inspect = `${typeable(plugin)} rollout inspect ${story.threadId} --codex-home ${codexHome}`
  out(line(style, "look further", "dim", inspect))
  if (live) out(line(style, "note", "dim", `the thread stays in your CODEX_HOME (${codexHome}); nothing was added to its config.toml`))
  else if (keep) out(line(style, "kept", "dim", `${root} and ${profile.root} (remove them when done)`))
  else out(line(style, "cleaned up", "dim", "temp CODEX_HOME, workspace and profile removed; pass --keep to run the command above"))
  return 0
}

// A stuck step must not leave the user waiting, nor processes behind.
const WATCHDOG_MS = process.argv.includes("--live") ? 15 * 60_000 : 120_000
const watchdog = setTimeout(() => {
  fail(`gave up after ${WATCHDOG_MS / 1000} s; cleaning up`)
  exitAfterCleanup(1)
}, WATCHDOG_MS)
watchdog.unref()

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    interrupted = true
    fail(`interrupted (${signal}); cleaning up`)
    exitAfterCleanup(130)
  })
}

main().then(
  (code) => exitAfterCleanup(code),
  (e) => {
    if (interrupted) return // already reported and cleaning up
    fail(e instanceof DemoFailure ? e.message : String((e as Error)?.stack ?? e))
    if (!(e instanceof DemoFailure)) process.stderr.write("run `bin/plexum-openai-provider-plugin doctor` to check the set-up\n")
    else process.stderr.write("if the cause is unclear, run `bin/plexum-openai-provider-plugin doctor` with the same PLEXUM_PROFILE_ROOT and CODEX_HOME\n")
    exitAfterCleanup(1)
  }
)
