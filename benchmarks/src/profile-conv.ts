/**
 * Per-layer timing of the CPU conv2d kernels (forward, input gradient, weight gradient) and
 * max-pool at the shapes of the `cnn` model's training step (batch 32, 1×28×28 input; convs
 * 1→32 @28, 32→64 @14 s2, 64→128 @7 s2, 128→256 @4 s2; 2×2 max-pool on [32,32,28,28]), plus
 * the conv2d suite's 16→32 @28 and a 3×3 / stride-2 max-pool.
 *
 * Not a suite: a profiling aid for kernel work. To compare before/after on a loaded machine in
 * one process, pass `--baseline <path to another build's dist/index.js>` (e.g. the package
 * compiled from the previous commit): each implementation has its own module instance and kernel
 * registry, the two are timed interleaved, round by round, and medians are reported.
 *
 *   node dist/profile-conv.js [--baseline /tmp/base/packages/tensor/dist/index.js] [--rounds 9]
 */
import * as current from '@normlab/tensor';

type TensorLib = typeof current;
type T = current.Tensor;

interface Impl {
  name: string;
  lib: TensorLib;
}

interface Case {
  name: string;
  /** Builds the inputs once per implementation and returns the timed call. */
  make: (lib: TensorLib) => () => unknown;
}

const N = 32;

function convCases(inC: number, outC: number, size: number, stride: number): Case[] {
  const opts = { stride, padding: 1 };
  const label = `${inC}→${outC} @${size}${stride > 1 ? ` s${stride}` : ''}`;
  const inputs = (lib: TensorLib): { x: T; w: T; dy: T } => {
    const x = lib.randn([N, inC, size, size], { seed: 1 });
    const w = lib.randn([outC, inC, 3, 3], { seed: 2 });
    const dy = lib.randn(lib.conv2dOutputShape(x.shape, w.shape, opts), { seed: 3 });
    return { x, w, dy };
  };
  const cases: Case[] = [
    { name: `${label} fwd`, make: (lib) => { const { x, w } = inputs(lib); return () => lib.conv2d(x, w, null, opts); } },
  ];
  // The first layer's input gradient is never needed in training (its input is the data).
  if (inC > 1) {
    cases.push({
      name: `${label} dInput`,
      make: (lib) => { const { x, w, dy } = inputs(lib); return () => lib.conv2dBackwardInput(dy, w, x.shape, opts); },
    });
  }
  cases.push({
    name: `${label} dWeight`,
    make: (lib) => { const { x, w, dy } = inputs(lib); return () => lib.conv2dBackwardWeight(dy, x, w.shape, opts); },
  });
  return cases;
}

const CASES: Case[] = [
  ...convCases(1, 32, 28, 1),
  ...convCases(32, 64, 14, 2),
  ...convCases(64, 128, 7, 2),
  ...convCases(128, 256, 4, 2),
  // The conv2d suite's shape (stride-1 3×3, Winograd forward and input gradient).
  ...convCases(16, 32, 28, 1),
  {
    name: 'maxPool 2x2 [32,32,28,28] fwd',
    make: (lib) => { const x = lib.randn([N, 32, 28, 28], { seed: 4 }); return () => lib.maxPool2d(x, { kernelSize: 2, stride: 2 }); },
  },
  {
    name: 'maxPool 2x2 [32,32,28,28] bwd',
    make: (lib) => {
      const x = lib.randn([N, 32, 28, 28], { seed: 4 });
      const { output, indices } = lib.maxPool2d(x, { kernelSize: 2, stride: 2 });
      const dy = lib.randn(output.shape, { seed: 5 });
      return () => lib.maxPool2dBackward(dy, indices, x.shape);
    },
  },
  {
    name: 'maxPool 3x3 s2 p1 [32,64,28,28] fwd',
    make: (lib) => { const x = lib.randn([N, 64, 28, 28], { seed: 6 }); return () => lib.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }); },
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One timed sample: the mean of as many calls as fit in ~40 ms (at least one). */
function sample(fn: () => unknown): number {
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    fn();
    calls++;
    t = performance.now();
  } while (t - t0 < 40);
  return (t - t0) / calls;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const argOf = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const rounds = Number(argOf('--rounds') ?? 9);
  const filter = argOf('--filter');
  const impls: Impl[] = [];
  const baseline = argOf('--baseline');
  if (baseline) impls.push({ name: 'before', lib: (await import(baseline)) as TensorLib });
  impls.push({ name: baseline ? 'after' : 'current', lib: current });

  const cases = filter ? CASES.filter((c) => c.name.includes(filter)) : CASES;
  const rows: string[][] = [];
  for (const c of cases) {
    const fns = impls.map((im) => c.make(im.lib));
    for (const fn of fns) { fn(); fn(); } // warm-up: JIT and scratch buffers
    const times = impls.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) fns.forEach((fn, i) => times[i]!.push(sample(fn)));
    const meds = times.map(median);
    const row = [c.name, ...meds.map((m) => m.toFixed(2))];
    if (meds.length === 2) row.push(`${(meds[0]! / meds[1]!).toFixed(2)}×`);
    rows.push(row);
    console.log(row.join('\t'));
  }
  const header = ['case', ...impls.map((im) => `${im.name} ms`), ...(impls.length === 2 ? ['speed-up'] : [])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(`\nmedian of ${rounds} rounds (each round: mean of the calls in ~40 ms)`);
  console.log(fmt(header));
  for (const r of rows) console.log(fmt(r));
  if (impls.length === 2) {
    const tot = (i: number): number => rows.reduce((s, r) => s + Number(r[i + 1]), 0);
    console.log(`total: ${tot(0).toFixed(1)} ms → ${tot(1).toFixed(1)} ms (${(tot(0) / tot(1)).toFixed(2)}×)`);
  }
}

await main();
