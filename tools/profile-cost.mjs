#!/usr/bin/env node
/**
 * Measure what a reproduction profile costs on this machine: one short sample of each class of
 * runs (same model, norm, batch size, …) through the real executor, extrapolated to every
 * planned run (`estimateProfileCost` in @normlab/analysis). Run after `npm run build`:
 *
 *   node tools/profile-cost.mjs --profile standard --dataset fashion-mnist --data-dir DIR [--steps 20] [--rounds 2] [--json]
 *
 * `--sizes TRAIN,TEST` extrapolates to splits of that size instead of the files' (e.g. time the
 * CIFAR-10 profile on a small file in its format with `--sizes 50000,10000`; the files must then
 * hold at least (warmup + steps) × the largest batch training images and 200 test images).
 *
 * Prints the estimate as Markdown (or JSON with --json) on stdout and one line per sample on
 * stderr. NORMLAB_NUM_THREADS sets the threads, as for every normlab command.
 */
import { estimateProfileCost, formatProfileCost, getProfile } from '@normlab/analysis';

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
    else if (a === '--sizes') {
      const [train, test] = value().split(',').map(Number);
      if (!(Number.isInteger(train) && train > 0 && Number.isInteger(test) && test > 0)) throw new Error('--sizes must be TRAIN,TEST (positive integers)');
      out.sizes = { train, test };
    }
    else if (a === '--json') out.json = true;
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
process.stdout.write(args.json ? JSON.stringify(cost, null, 1) + '\n' : formatProfileCost(cost) + '\n');
