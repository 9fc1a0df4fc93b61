/**
 * Normalization layers, forward + backward (input and parameter gradients) at N 16, C 64,
 * 32×32, G 32: normlab's fused kernels against the same layers composed from tfjs ops
 * (reshape, moments, normalize, affine) differentiated with `tf.grads`, and PyTorch.
 */
import { Variable } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import { BatchNorm2d, GNPlus, GroupNorm, HybridNorm } from '@normlab/norm-layers';
import { type Tensor, randn } from '@normlab/tensor';
import { type CaseResult, type Runner, type Suite, type SuiteContext, benchCases, cpuPeer, torchRunners } from '../harness.js';
import { type TfBackend, tf, tfPeerName, useTf } from '../tfjs.js';

const N = 16;
const C = 64;
const H = 32;
const W = 32;
const G = 32;
const EPS = 1e-5;

type Kind = 'GN' | 'BN' | 'GNPlus' | 'HybridNorm';
const KINDS: Kind[] = ['GN', 'BN', 'GNPlus', 'HybridNorm'];

/** Rough FLOPs per element of forward + backward (for the GFLOP/s column only). */
const FLOPS_PER_ELEMENT: Record<Kind, number> = { GN: 18, BN: 18, GNPlus: 44, HybridNorm: 40 };

function makeLayer(kind: Kind): Module {
  switch (kind) {
    case 'GN':
      return new GroupNorm(G, C);
    case 'BN':
      return new BatchNorm2d(C);
    case 'GNPlus':
      return new GNPlus(G, C);
    case 'HybridNorm':
      return new HybridNorm(G, C);
  }
}

function subjectRunner(ctx: SuiteContext, kind: Kind): Runner {
  let x: Tensor | undefined;
  let dy: Tensor | undefined;
  let layer: Module | undefined;
  return {
    name: `normlab (${ctx.backend})`,
    setup: () => {
      x = randn([N, C, H, W], { seed: 1 });
      dy = randn([N, C, H, W], { seed: 2 });
      layer = makeLayer(kind);
    },
    run: () => {
      // The layer's input is an intermediate activation, as in a network: the input gradient is
      // handed to its producer's backward (here one that takes it and stops), not copied into a
      // leaf's .grad (a copy tfjs's tf.grads does not make either).
      const leaf = new Variable(x!, { requiresGrad: true });
      let dx: Tensor | null = null;
      const xv = Variable.fromOp('activation', x!, [leaf], (g) => {
        dx = g;
        return [null];
      });
      const y = layer!.forward(xv) as Variable;
      y.backward(dy);
      layer!.zeroGrad();
      if (!dx) throw new Error(`${kind}: no input gradient reached the producer`);
      return dx;
    },
  };
}

/** The layer composed from tfjs ops; params = [gamma, beta, rho?]. */
function tfForward(kind: Kind, x: tf.Tensor4D, params: tf.Tensor[]): tf.Tensor {
  const [gamma, beta, rho] = params as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
  const affine = (t: tf.Tensor) => tf.add(tf.mul(t, tf.reshape(gamma, [1, C, 1, 1])), tf.reshape(beta, [1, C, 1, 1]));
  const gnPyTorch = (t: tf.Tensor) => {
    const g = tf.reshape(t, [N, G, -1]);
    const { mean, variance } = tf.moments(g, [2], true);
    return tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, EPS))), [N, C, H, W]);
  };
  const bnStage = (t: tf.Tensor) => {
    const { mean, variance } = tf.moments(t, [0, 2, 3], true);
    return tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, EPS)));
  };
  const blend = (u: tf.Tensor, v: tf.Tensor) => {
    const s = tf.sigmoid(rho!);
    return affine(tf.add(tf.mul(s, u), tf.mul(tf.sub(1, s), v)));
  };
  switch (kind) {
    case 'GN':
      return affine(gnPyTorch(x));
    case 'BN':
      return affine(bnStage(x));
    case 'GNPlus': {
      // The authors' GN+: unbiased std, eps on the std; batch stage over axis 0 alone.
      const g = tf.reshape(x, [N, G, -1]);
      const m = (C / G) * H * W;
      const gm = tf.moments(g, [2], true);
      const gstd = tf.sqrt(tf.mul(gm.variance, m / (m - 1)));
      const u = tf.reshape(tf.div(tf.sub(g, gm.mean), tf.add(gstd, EPS)), [N, C, H, W]);
      const bm = tf.moments(u, [0], true);
      const bstd = tf.sqrt(tf.mul(bm.variance, N / (N - 1)));
      const v = tf.div(tf.sub(u, bm.mean), tf.add(bstd, EPS));
      return blend(u, v);
    }
    case 'HybridNorm': {
      const u = gnPyTorch(x);
      return blend(u, bnStage(u));
    }
  }
}

function tfRunner(backend: TfBackend, kind: Kind): Runner {
  let x: tf.Tensor4D | undefined;
  let dy: tf.Tensor4D | undefined;
  let params: tf.Tensor[] = [];
  let gradFn: ((xs: tf.Tensor[], dy: tf.Tensor) => tf.Tensor[]) | undefined;
  return {
    name: tfPeerName(backend),
    setup: async () => {
      const why = await useTf(backend);
      if (why) return why;
      x = tf.randomNormal([N, C, H, W], 0, 1, 'float32', 1) as tf.Tensor4D;
      dy = tf.randomNormal([N, C, H, W], 0, 1, 'float32', 2) as tf.Tensor4D;
      params = [tf.ones([C]), tf.zeros([C])];
      if (kind === 'GNPlus' || kind === 'HybridNorm') params.push(tf.ones([1]));
      gradFn = tf.grads((...xs: tf.Tensor[]) => tfForward(kind, xs[0] as tf.Tensor4D, xs.slice(1)));
      return undefined;
    },
    run: () => {
      tf.tidy(() => {
        // tfjs runs each kernel eagerly, so dx exists once tf.grads returns; like normlab's
        // input gradient it stays where the next consumer would read it (no copy out of the
        // backend), while the small parameter gradients are read back as an optimizer would.
        const gs = gradFn!([x!, ...params], dy!);
        for (const g of gs.slice(1)) g.dataSync();
      });
    },
    teardown: () => {
      x?.dispose();
      dy?.dispose();
      for (const p of params) p.dispose();
    },
  };
}

type Peer = 'cpu' | 'wasm' | 'torch';
const PEERS: Peer[] = ['cpu', 'wasm', 'torch'];

/** `--norm-kinds GN,BN` / `--norm-peers wasm,torch`: a subset for quick runs (default: all). */
function listArg<T extends string>(ctx: SuiteContext, flag: string, all: readonly T[]): T[] {
  const i = ctx.args.indexOf(flag);
  if (i < 0) return [...all];
  const wanted = (ctx.args[i + 1] ?? '').split(',').filter(Boolean);
  const bad = wanted.filter((w) => !all.includes(w as T));
  if (bad.length || !wanted.length) {
    throw new Error(`${flag} takes a comma-separated subset of ${all.join(',')}, got '${ctx.args[i + 1] ?? ''}'`);
  }
  return wanted as T[];
}

const TORCH_OPS: Record<Kind, string> = { GN: 'norm_gn', BN: 'norm_bn', GNPlus: 'norm_gnplus', HybridNorm: 'norm_hybrid' };

const suite: Suite = {
  name: 'norm',
  title: 'Normalization layers: forward + backward',
  description:
    `Forward and backward (gradients of input, weight, bias and, for GN+ and HybridNorm, the blend ρ) at ` +
    `N ${N}, C ${C}, ${H}×${W}, G ${G}, float32. normlab: the whole-layer kernels of @normlab/norm-layers ` +
    '(float64 statistics; one output array per forward and per backward; the threads of NORMLAB_NUM_THREADS, by default every core) through autograd; tfjs: the same layer composed from reshape, moments, ' +
    'normalize and affine ops, differentiated with tf.grads; PyTorch: native GroupNorm/BatchNorm2d, ' +
    "GN+ composed from torch ops as the authors' code does, HybridNorm from native group_norm and batch_norm. " +
    'GFLOP/s uses a rough per-element operation count.',
  async run(ctx: SuiteContext) {
    const name = (k: Kind) => `${k} N${N} C${C} ${H}×${W} G${G}`;
    const kinds = listArg(ctx, '--norm-kinds', KINDS);
    const peers = listArg(ctx, '--norm-peers', PEERS);
    const torch = peers.includes('torch')
      ? torchRunners(
          ctx,
          kinds.map((k) => ({ name: name(k), op: TORCH_OPS[k], params: { n: N, c: C, h: H, w: W, g: G } })),
        )
      : { runners: new Map<string, Runner[]>(), notes: [] as string[] };
    const cases: CaseResult[] = await benchCases(
      ctx,
      kinds.map((kind) => ({
        name: name(kind),
        flops: FLOPS_PER_ELEMENT[kind] * N * C * H * W,
        description: `${kind} forward + backward`,
        subject: subjectRunner(ctx, kind),
        peers: [
          ...cpuPeer(ctx, () => subjectRunner(ctx, kind)),
          ...(['cpu', 'wasm'] as const).filter((b) => peers.includes(b)).map((b) => tfRunner(b, kind)),
          ...(torch.runners.get(name(kind)) ?? []),
        ],
      })),
    );
    return {
      cases,
      notes: [
        ...torch.notes,
        'normlab times include autograd (building the Variable graph, the backward walk). The input is an intermediate activation, ' +
          'so its gradient goes to the producing op rather than being copied into a leaf; tfjs likewise leaves dx in its backend ' +
          'and reads back only the parameter gradients.',
      ],
    };
  },
};

export default suite;
