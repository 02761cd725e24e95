#!/usr/bin/env bash
# The package as a host operator gets it (issue 19; .ci/run runs this after the test suite):
# `npm pack`, the tarball installed the ways README "Install" gives, and from each installed copy
# what a host and an operator run. Nothing is taken from the checkout but the tarball, the pinned
# codex (node_modules/.bin, put on PATH where a codex on PATH is wanted) and the demo's host.
#
#   1. npm install -g --omit=optional <tarball>  manifest, --version, doctor (codex on PATH), the
#                                                 demo through the installed executable, the code
#                                                 cache it ships, a user who cannot write the install
#   2. npm install -g <tarball>                   doctor with no codex on PATH: the codex it brought
#   3. npm install --omit=optional <tarball>      into a folder: nothing but the package; doctor with
#                                                 no codex anywhere fails and says how to get one
#   4. npx file:<tarball> doctor
#
# Install times are printed, not asserted (a busy machine is slower). Ends with one line,
# "packed install: ok ..." or "packed install: FAILED: ...", and writes .tmp/packed-install.json
# ({numPassedTests, numFailedTests}) for .ci/run's closing sum.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/plexum-packed-XXXXXX")
npx_cache="$(npm config get cache)/_npx"
result=failed
step="start"
times=()

finish() {
  # npx keeps what it installed under the npm cache: remove only the folder it made for this tarball.
  for dir in "$npx_cache"/*/; do
    if [ -f "$dir/package.json" ] && grep -qF "$work/" "$dir/package.json"; then rm -rf "$dir"; fi
  done
  rm -rf "$work"
  mkdir -p .tmp
  if [ "$result" = ok ]; then
    echo '{"numPassedTests":1,"numFailedTests":0}' >.tmp/packed-install.json
    echo "packed install: ok (${times[*]})"
  else
    echo '{"numPassedTests":0,"numFailedTests":1}' >.tmp/packed-install.json
    echo "packed install: FAILED: $step"
  fi
}
trap finish EXIT

fail() {
  step="$step: $*"
  exit 1
}

seconds_since() { node -e 'process.stdout.write(((Date.now() - Number(process.argv[1])) / 1000).toFixed(1))' "$1"; }
now_ms() { node -e 'process.stdout.write(String(Date.now()))'; }

# A PATH with node (the executables' shebang needs it) and no codex, whatever this machine has installed.
mkdir -p "$work/path-node" "$work/profile" "$work/codex-home"
ln -s "$(command -v node)" "$work/path-node/node"
no_codex_path="$work/path-node"
codex_path="$repo/node_modules/.bin:$work/path-node"
[ -x "$repo/node_modules/.bin/codex" ] || fail "no pinned codex in node_modules/.bin: run npm ci first"
version=$(node -p 'require("./package.json").version')

# npm install with its output kept; fails on an install-scripts warning (none may be needed).
install() {
  local log="$work/install-$1.log" started
  shift
  started=$(now_ms)
  if ! npm "$@" >"$log" 2>&1; then
    cat "$log"
    fail "npm $* exited with an error"
  fi
  times+=("npm $(echo "$*" | sed "s|$work/||g"): $(seconds_since "$started") s;")
  grep -i "warn" "$log" || true
  if grep -qi "install-scripts\|node-gyp" "$log"; then fail "npm $* printed an install-scripts warning"; fi
}

# Runs the installed executable with a profile and CODEX_HOME of this test's own; output in $out.
run() {
  local path=$1
  shift
  out=$(env PATH="$path" PLEXUM_PROFILE_ROOT="$work/profile" CODEX_HOME="$work/codex-home" "$@" 2>&1)
}

# manifest, --version and doctor from an installed executable; $2: what doctor's codex line must say.
check_commands() {
  local bin=$1 codex_why=$2 path=$3
  step="$bin manifest"
  run "$path" "$bin" manifest || fail "exited with an error: $out"
  node -e 'const m = JSON.parse(process.argv[1]); if (m.name !== "plexum-openai-provider" || m.version !== process.argv[2]) process.exit(1)' "$out" "$version" ||
    fail "printed $out"
  step="$bin --version"
  run "$path" "$bin" --version || fail "exited with an error: $out"
  [ "${out%%$'\n'*}" = "$version" ] || fail "printed $out, not $version"
  step="$bin doctor"
  run "$path" "$bin" doctor || fail "exited with an error:
$out"
  grep -F "ok   codex binary:" <<<"$out" | grep -F "$codex_why" >/dev/null || fail "does not say the codex runs as $codex_why:
$out"
  grep -q "^ok   codex version:" <<<"$out" || fail "does not accept the codex version:
$out"
}

step="npm pack"
started=$(now_ms)
npm pack --pack-destination "$work" >"$work/pack.log" 2>&1 || { cat "$work/pack.log"; fail "npm pack exited with an error"; }
times+=("npm pack (builds): $(seconds_since "$started") s;")
tarball=$(ls "$work"/plexum-openai-provider-*.tgz)
listing=$(tar -tzf "$tarball")
for file in package/bin/plexum-openai-provider-plugin package/dist/{main,mcp-host}.cjs{,.cache} package/dist/THIRD_PARTY_LICENSES.txt; do
  grep -qx "$file" <<<"$listing" || fail "the tarball has no $file"
done

# 1. Global, without the optional codex (npm 11 installs it anyway: npm/cli#8284, --omit is not
# applied below a global package), codex on PATH.
step="npm install -g --omit=optional"
install global-omit install -g --prefix "$work/global-omit" --omit=optional "$tarball"
pkg="$work/global-omit/lib/node_modules/plexum-openai-provider"
bin="$work/global-omit/bin/plexum-openai-provider-plugin"
[ -x "$bin" ] || fail "no executable at $bin"
for dep in "$pkg"/node_modules/*; do
  [ ! -e "$dep" ] || [ "$(basename "$dep")" = "@openai" ] || fail "it installed a dependency: $dep"
done
cache_stamp() { stat -c %y "$pkg/dist/main.cjs.cache" "$pkg/dist/mcp-host.cjs.cache"; }
shipped=$(cache_stamp)
check_commands "$bin" 'codex on PATH (config sets no "binary")' "$codex_path"

step="the demo through $bin"
demo_log="$work/demo.log"
if ! node --import tsx demo/run.ts --plugin "$bin" >"$demo_log" 2>&1; then
  tail -40 "$demo_log"
  fail "npm run demo -- --plugin $bin exited with an error"
fi
grep -q "^turn 2 assistant" "$demo_log" || { cat "$demo_log"; fail "the demo told no second turn"; }
grep "^plugin\|^turn 1 host tool\|^consume\|^turn 2 started" "$demo_log"

step="the code caches shipped in the package"
[ "$(cache_stamp)" = "$shipped" ] || fail "were rewritten: node rejected them"

step="a user who cannot write the install"
if [ "$(id -u)" = 0 ]; then
  chmod 755 "$work" "$work/profile"
  mv "$pkg/dist/main.cjs.cache" "$work/main.cjs.cache"
  before=$(ls "$pkg/dist")
  run "$no_codex_path" "$(command -v setpriv)" --reuid=65534 --regid=65534 --clear-groups "$bin" manifest || fail "manifest as uid 65534 failed: $out"
  [ "$(ls "$pkg/dist")" = "$before" ] || fail "running it as uid 65534 wrote into $pkg/dist"
  mv "$work/main.cjs.cache" "$pkg/dist/main.cjs.cache"
else
  chmod a-w "$pkg/dist"
  run "$no_codex_path" "$bin" manifest || fail "manifest with a read-only dist/ failed: $out"
  chmod u+w "$pkg/dist"
fi

# 2. Global with the codex it brings, and no codex on PATH.
step="npm install -g"
install global install -g --prefix "$work/global" "$tarball"
check_commands "$work/global/bin/plexum-openai-provider-plugin" "the codex installed with the plugin" "$no_codex_path"

# 3. Into a folder without the optional codex: nothing but the package, and doctor says what to do.
step="npm install --omit=optional into a folder"
install folder-omit install --prefix "$work/folder" --omit=optional "$tarball"
installed=$(ls "$work/folder/node_modules")
[ "$installed" = "plexum-openai-provider" ] || fail "installed more than the package: $installed"
step="doctor with no codex anywhere"
if run "$no_codex_path" "$work/folder/node_modules/.bin/plexum-openai-provider-plugin" doctor; then fail "passed:
$out"; fi
grep -q "^FAIL codex binary: .*no @openai/codex was installed with the plugin" <<<"$out" || fail "does not say why:
$out"
grep -qF "fix: install the Codex CLI (npm install -g @openai/codex@" <<<"$out" || fail "gives no fix:
$out"

# 4. npx, as README gives it for a one-off check.
step="npx file:<tarball> doctor"
started=$(now_ms)
run "$codex_path:$(dirname "$(command -v npx)")" npx --yes --omit=optional "file:$tarball" doctor ||
  fail "exited with an error:
$out"
times+=("npx doctor: $(seconds_since "$started") s")
grep -q "^ok   codex binary:" <<<"$out" || fail "found no codex:
$out"

result=ok
