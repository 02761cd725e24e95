// Bundles the plugin into dist/ so the executable starts fast: codex starts
// `mcp-host` before every turn, and a host may start the plugin often.
// Runs on `npm install` and `npm ci` in a clone (postprepare), on `npm pack` and `npm publish`
// (prepack: the package ships dist/, code caches included, and needs no build where it is
// installed), and before tests, benches and the demo. Not `prepare`: npm 11 lists a `prepare` of a
// package installed from a tarball as an install script to approve, though it never runs there;
// `postprepare` runs for the project's own install only. The bundles stand alone: they require
// nothing but node's own modules, which is why the package has no runtime dependencies.
//
// Bundles are CommonJS on purpose: bin/plexum-openai-provider-plugin loads them
// through vm.Script with a V8 code cache (dist/*.cache), which Node 20 offers
// for scripts but not for ES modules. That halves start-up time.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { isBuiltin } from "node:module"

const entries = {
  main: "src/Main.ts",
  // The mcp-host runtime gets its own lean bundle: no CLI framework on its start-up path.
  "mcp-host": "src/mcphost/McpHostEntry.ts"
}

const result = await build({
  entryPoints: Object.fromEntries(Object.entries(entries).filter(([, p]) => existsSync(p))),
  outdir: "dist",
  outExtension: { ".js": ".cjs" },
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: process.env.PLEXUM_BUILD_NO_MINIFY !== "1",
  sourcemap: "linked",
  legalComments: "none",
  // import.meta.url is the bundle's own URL, as in the ES module sources (src/core/codex/CodexBinary.ts
  // finds the codex installed beside the plugin from it).
  define: { "import.meta.url": "import_meta_url" },
  inject: ["scripts/import-meta-url.js"],
  logLevel: "warning",
  metafile: true
})

// The published package has no dependencies: a bundle that left a package to be required at run
// time would fail where it is installed. Only node's own modules may stay outside.
const outside = Object.entries(result.metafile.outputs).flatMap(([file, output]) =>
  output.imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => `${file}: ${i.path}`)
)
if (outside.length > 0) throw new Error(`the bundles must stand alone, but require:\n${outside.join("\n")}`)

// The bundles carry other packages' code (minified, without their comments): their licences ship
// beside them, one per package, in dist/THIRD_PARTY_LICENSES.txt.
const packageDirs = new Set(
  Object.keys(result.metafile.inputs).flatMap((file) => {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file)
    return m ? [m[1]] : []
  })
)
const notices = [...packageDirs].sort().map((dir) => {
  const pkg = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"))
  const licenseFile = readdirSync(dir).find((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f))
  const text = licenseFile ? readFileSync(`${dir}/${licenseFile}`, "utf8").trim() : `(the package has no licence file; package.json says ${pkg.license})`
  return `${pkg.name} ${pkg.version} (${pkg.license})\n\n${text}\n`
})
writeFileSync(
  "dist/THIRD_PARTY_LICENSES.txt",
  `The bundles in this folder contain code of these packages, under these licences.\n\n${notices.join(`\n${"-".repeat(72)}\n\n`)}`
)

// Warm the code caches once so the first real start is already fast.
for (const name of Object.keys(entries)) rmSync(`dist/${name}.cjs.cache`, { force: true })
execFileSync(process.execPath, ["bin/plexum-openai-provider-plugin", "manifest"], {
  stdio: "ignore",
  // defaults only: a broken config of whoever builds must not break the build
  env: { ...process.env, PLEXUM_PROFILE_ROOT: "/nonexistent/plexum-build-warm-up" }
})
// mcp-host with no listener and stdin already closed answers nothing and exits at once.
execFileSync(process.execPath, ["bin/plexum-openai-provider-plugin", "mcp-host", "--socket", "/nonexistent/warm-up.sock"], {
  input: "",
  stdio: ["pipe", "ignore", "ignore"],
  timeout: 20_000
})
