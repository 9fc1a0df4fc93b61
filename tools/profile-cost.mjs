#!/usr/bin/env node
/**
 * Measure what a reproduction profile costs on this machine: one short sample of each class of
 * runs (same model, norm, batch size, …) through the real executor, extrapolated to every
 * planned run (`estimateProfileCost` in @normlab/analysis). Run after `npm run build`:
 *
 *   node tools/profile-cost.mjs --profile standard --dataset fashion-mnist --data-dir DIR [--steps 20] [--rounds 2] [--json]
 *
 * `--against PROFILE:WALL_MIN,CPU_MIN` prices another profile whose runs are all of the measured
 * classes (quick's are standard's) at the measured rates, and scales the estimate by how far that
 * is from the given measured run of it (minutes of wall and CPU time; e.g. `quick:10.13,15.6`, the
 * idle-machine run in docs/performance.md): on a loaded machine, the estimate for an idle one.
 *
 * `--sizes TRAIN,TEST` extrapolates to splits of that size instead of the files' (e.g. time the
 * CIFAR-10 profile on a small file in its format with `--sizes 50000,10000`; the files must then
 * hold at least (warmup + steps) × the largest batch training images and 200 test images).
 *
 * Prints the estimate as Markdown (or JSON with --json) on stdout and one line per sample on
 * stderr. NORMLAB_NUM_THREADS sets the threads, as for every normlab command; `--backend NAME`
 * measures on another compute backend (`@normlab/NAME` is imported to register it).
 */
import { estimateProfileCost, formatProfileCost, getProfile, priceProfile } from '@normlab/analysis';
import { setBackend } from '@normlab/tensor';

function parse(argv) {
  const out = { profile: 'standard', steps: 20, warmup: 3, rounds: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = () => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} must be a positive integer`);
      return v;
    };
    if (a === '--profile') out.profile = value();
    else if (a === '--dataset') out.dataset = value();
    else if (a === '--data-dir') out.dataDir = value();
    else if (a === '--steps') out.steps = int();
    else if (a === '--warmup') out.warmup = int();
    else if (a === '--rounds') out.rounds = int();
    else if (a === '--against') {
      const m = /^([a-z]+):([\d.]+),([\d.]+)$/.exec(value());
      if (!m) throw new Error('--against must be PROFILE:WALL_MIN,CPU_MIN, e.g. quick:10.13,15.6');
      out.against = { profile: m[1], wallMinutes: Number(m[2]), cpuMinutes: Number(m[3]) };
    } else if (a === '--sizes') {
      const [train, test] = value().split(',').map(Number);
      if (!(Number.isInteger(train) && train > 0 && Number.isInteger(test) && test > 0)) throw new Error('--sizes must be TRAIN,TEST (positive integers)');
      out.sizes = { train, test };
    }
    else if (a === '--json') out.json = true;
    else if (a === '--backend') out.backend = value();
    else throw new Error(`unknown option ${a}`);
  }
  return out;
}

let args;
try {
  args = parse(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`profile-cost: error: ${e.message}\n`);
  process.exit(2);
}
if (args.backend && args.backend !== 'cpu') await import(`@normlab/${args.backend}`);
if (args.backend) setBackend(args.backend);
const profile = getProfile(args.profile, args.dataset);
const t0 = performance.now();
const cost = await estimateProfileCost(profile, {
  ...(args.dataDir ? { dataDir: args.dataDir } : {}),
  ...(args.sizes ? { sizes: args.sizes } : {}),
  timedSteps: args.steps,
  warmupSteps: args.warmup,
  rounds: args.rounds,
  onSample: (done, total, label) => process.stderr.write(`${done}/${total} ${label} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`),
});
let scaled = null;
if (args.against) {
  const ref = await priceProfile(cost, getProfile(args.against.profile, profile.dataset), { ...(args.dataDir ? { dataDir: args.dataDir } : {}), ...(args.sizes ? { sizes: args.sizes } : {}) });
  // How much slower than the measured run of the reference the rates price it: the load's factor.
  const wallFactor = (60 * ref.wallHours.median) / args.against.wallMinutes;
  const cpuFactor = (60 * ref.cpuHours.median) / args.against.cpuMinutes;
  const by = (h, f) => ({ min: h.min / f, median: h.median / f, max: h.max / f });
  scaled = { against: args.against, priced: ref, wallFactor, cpuFactor, wallHours: by(cost.wallHours, wallFactor), cpuHours: by(cost.cpuHours, cpuFactor) };
}
if (args.json) process.stdout.write(JSON.stringify({ ...cost, ...(scaled ? { scaled } : {}) }, null, 1) + '\n');
else {
  process.stdout.write(formatProfileCost(cost) + '\n');
  if (scaled) {
    const h = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
    const r = (x) => `${h(x.median)} (${h(x.min)}–${h(x.max)})`;
    process.stdout.write(
      `\nScaled by ${args.against.profile} (${scaled.priced.runs} runs) priced at these rates: ${(60 * scaled.priced.wallHours.median).toFixed(1)} min wall, ${(60 * scaled.priced.cpuHours.median).toFixed(1)} min CPU, ` +
        `against ${args.against.wallMinutes} and ${args.against.cpuMinutes} measured (factors ${scaled.wallFactor.toFixed(2)}, ${scaled.cpuFactor.toFixed(2)}):\n` +
        `- wall time: ${r(scaled.wallHours)} hours\n- CPU time: ${r(scaled.cpuHours)} CPU-hours\n`,
    );
  }
}
