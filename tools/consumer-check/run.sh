#!/usr/bin/env bash
# The consumer check: what a stranger gets from the packages. It packs every package under
# packages/ (their built dist/: run it after `npm ci`), installs the tarballs and nothing else from
# this repository into a scratch app outside it (with typescript, esbuild, playwright-core and
# @types/node from the npm registry, at the repository lock's versions), and there checks:
#   tarballs        LICENSE, repository, engines, internal ranges, no tests, source maps resolve;
#                   the CLI did not bring gpu.js (and its 84 MB native webgpu)
#   tsc --strict    app/train.ts and its Node and browser entries against the packages' types
#   node            the Node ESM program (tsc's output): a small CNN with GroupNorm and
#                   HybridNorm trained for a few steps
#   quick start     the README's quick-start code block, as written
#   cli             normlab train + eval; --backend gpu without @normlab/gpu is one line saying how
#                   to install it
#   chromium        app/browser.ts bundled by esbuild, in headless Chromium: the same losses as
#                   Node, and getNumThreads() reports the one thread a page runs
#   gpu             the @normlab/gpu tarball added, normlab train --backend gpu
# It prints one line per check and exits 1 if any failed (printing that check's output).
#
#   tools/consumer-check/run.sh        CHROMIUM=/path/to/chromium; KEEP=1 keeps the scratch app
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

for pkg in "$repo"/packages/*/; do
  if [ ! -f "$pkg/dist/index.js" ]; then echo "consumer check: ${pkg#"$repo"/}dist is missing: run npm ci (or npm run build) first" >&2; exit 2; fi
done
scratch="$(mktemp -d "${TMPDIR:-/tmp}/normlab-consumer-XXXXXX")"
case "$scratch/" in "$repo"/*) echo "consumer check: the scratch folder $scratch is inside the repository" >&2; exit 2 ;; esac
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$scratch"' EXIT; fi
app="$scratch/app" packs="$scratch/tarballs" logs="$scratch/logs"
mkdir -p "$app" "$packs" "$logs"
start=$SECONDS

lines=()
failed=0
# check NAME CMD…: run CMD in the app; its output goes to logs/NAME.log and its last line is the
# check's summary.
check() {
  local name="$1"; shift
  local log="$logs/${name// /-}.log"
  if (cd "$app" && "$@") >"$log" 2>&1; then
    lines+=("  ok      $name: $(tail -n 1 "$log")")
  else
    failed=1
    lines+=("  FAILED  $name: $(tail -n 1 "$log")")
    echo "--- consumer check '$name' failed; its output:"
    cat "$log"
    echo "---"
  fi
}
finish() {
  echo "consumer check: tarballs of $repo installed in $app, Node $(node --version), $((SECONDS - start)) s"
  printf '%s\n' "${lines[@]}"
  if [ "$failed" = 0 ]; then echo "consumer check: passed"; else echo "consumer check: FAILED"; fi
  exit "$failed"
}

lock_version() { node -e 'console.log(require(process.argv[1]).packages["node_modules/" + process.argv[2]].version)' "$repo/package-lock.json" "$1"; }
typescript="typescript@$(lock_version typescript)"
playwright="playwright-core@$(lock_version playwright-core)"
types_node="@types/node@$(lock_version @types/node)"
esbuild="esbuild@0.28.2" # not a dependency of the repository

pack() {
  (cd "$repo" && npm pack --workspace packages --pack-destination "$packs" --loglevel=error >/dev/null) && echo "$(ls "$packs" | wc -l) tarballs"
}
check pack pack
cp "$here"/app/* "$app/"
printf '{ "name": "normlab-consumer-check", "private": true, "type": "module" }\n' >"$app/package.json"
install() {
  # Every tarball but @normlab/gpu, an optional peer of the CLI (added by the gpu check).
  npm install --prefer-offline --loglevel=error $(ls "$packs"/*.tgz | grep -v '/normlab-gpu-') "$typescript" "$esbuild" "$playwright" "$types_node" &&
    echo "$(ls node_modules/@normlab | wc -l) @normlab packages, $typescript, $esbuild, $playwright, $types_node"
}
check install install
[ "$failed" = 0 ] || finish

check tarballs node "$here/check-installed.mjs" .

check 'tsc --strict' sh -c 'npx tsc -p tsconfig.json && npx tsc -p tsconfig.browser.json && echo "train.ts, node.ts (→ build/) and browser.ts (DOM, no @types/node) with skipLibCheck off"'

losses='const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`losses ${r.losses.map((l) => l.toFixed(4)).join(" ")} (${r.threads} threads)`)'
check node sh -c "node build/node.js >node.json && node -e '$losses' <node.json"

quick_start() {
  node -e 'const m = /<!-- quick-start -->\n```js\n([\s\S]*?)```/.exec(require("fs").readFileSync(process.argv[1], "utf8")); if (!m) process.exit(1); process.stdout.write(m[1])' "$repo/README.md" >quick-start.mjs &&
    node quick-start.mjs >quick-start.out && cat quick-start.out && grep -q 'same outputs after loading: true' quick-start.out && sed -z 's/\n/; /g; s/; $//' quick-start.out
}
check 'quick start' quick_start

cli() {
  local tiny=(--dataset synthetic --train-limit 256 --test-limit 100 --width 0.25 --groups 4 --batch-size 32)
  npx normlab train "${tiny[@]}" --norm hybrid --out run --json --quiet >train.json || return 1
  npx normlab eval --checkpoint run/model.safetensors --test-limit 100 --json --quiet >eval.json || return 1
  local code=0
  npx normlab train "${tiny[@]}" --backend gpu 2>gpu.err || code=$?
  cat gpu.err
  [ "$code" = 2 ] && [ "$(wc -l <gpu.err)" = 1 ] && grep -q 'run `npm install @normlab/gpu`' gpu.err || return 1
  node -e 'const [t, e] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8"))); console.log(`train cnn/hybrid: test accuracy ${(100 * t.testAccuracy).toFixed(1)}%, eval ${(100 * e.testAccuracy).toFixed(1)}%; without @normlab/gpu: ${require("fs").readFileSync("gpu.err", "utf8").trim()}`)' train.json eval.json
}
check cli cli

browser() {
  npx esbuild browser.ts --bundle --format=iife --platform=browser --outfile=bundle.js --log-level=warning || return 1
  node browser-run.mjs bundle.js "$chromium" >browser.json || { cat browser.json; return 1; }
  node -e '
    const fs = require("fs");
    const [b, n] = ["browser.json", "node.json"].map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
    const diff = Math.max(...b.losses.map((l, i) => Math.abs(l - n.losses[i]) / Math.abs(n.losses[i])));
    const browserName = /(HeadlessChrome|Chrome)\/[\d.]+/.exec(b.userAgent)?.[0] ?? b.userAgent;
    console.log(`${browserName}: losses ${b.losses.map((l) => l.toFixed(4)).join(" ")}, max relative difference from Node ${diff.toExponential(1)}; getNumThreads() after setNumThreads(4): ${b.threadsAfterSetNumThreads4}`);
    if (!(diff < 1e-6) || b.threadsAfterSetNumThreads4 !== 1) process.exit(1);'
}
if [ -x "$chromium" ]; then check chromium browser; else lines+=("  FAILED  chromium: no Chromium at $chromium (apt-get install chromium, or set CHROMIUM)"); failed=1; fi

gpu() {
  npm install --prefer-offline --loglevel=error "$(ls "$packs"/normlab-gpu-*.tgz)" >/dev/null || return 1
  node "$here/check-installed.mjs" . || return 1
  npx normlab train --dataset synthetic --train-limit 64 --test-limit 40 --width 0.25 --groups 4 --batch-size 16 --backend gpu --gpu-mode cpu --json --quiet >gpu.json || return 1
  node -e 'const r = JSON.parse(require("fs").readFileSync("gpu.json", "utf8")); console.log(`installed beside the CLI; normlab train --backend gpu --gpu-mode cpu: backend ${r.backend}, test accuracy ${(100 * r.testAccuracy).toFixed(1)}%`); if (r.backend !== "gpu") process.exit(1)'
}
check gpu gpu

finish
