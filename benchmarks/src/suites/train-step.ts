/**
 * One training step of the `cnn` model with BatchNorm at batch 32 on MNIST-shaped data
 * (1×28×28, 10 classes): forward, softmax cross-entropy, backward, SGD-with-momentum step.
 * normlab against the same architecture built with @tensorflow/tfjs-layers (trained with
 * `model.trainOnBatch`) on tfjs-cpu and tfjs-wasm, and with torch.nn in PyTorch.
 *
 * The peers are built from the normlab model itself (its convs' channels, kernel, stride and
 * padding, its pooling and its classifier), so they follow cnn.ts when its defaults change; the
 * trainable parameter counts of all implementations are compared and a mismatch fails the suite.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { F, Variable } from '@normlab/autograd';
import { cnn, type Cnn } from '@normlab/models';
import { Conv2d, Linear, SGD } from '@normlab/nn';
import { Rng, type Tensor, fromArray } from '@normlab/tensor';
import {
  BENCH_ROOT,
  PYTHON,
  type CaseResult,
  type Runner,
  type Suite,
  type SuiteContext,
  benchCases,
  cpuPeer,
  median,
  torchAvailable,
  torchRunners,
} from '../harness.js';
import { type TfBackend, tf, tfPeerName, useTf } from '../tfjs.js';

const BATCH = 32;
const IN_C = 1;
const SIZE = 28;
const CLASSES = 10;
const LR = 0.01;
const MOMENTUM = 0.9;
const BN_MOMENTUM = 0.1; // PyTorch convention; tfjs-layers' is 1 − this
const BN_EPS = 1e-5;
const DATA_SEED = 7;

/** One conv layer of the architecture, in PyTorch terms (square kernel / stride / padding). */
export interface ConvSpec {
  inC: number;
  outC: number;
  kernel: number;
  stride: number;
  padding: number;
}

/** The architecture every implementation builds: conv-BN-ReLU blocks, optional pool, GAP, linear. */
export interface CnnSpec {
  convs: ConvSpec[];
  /** 2×2 / stride-2 max-pool after the first block. */
  poolAfterFirst: boolean;
  linearIn: number;
  classes: number;
}

/** Read the architecture off a built normlab `cnn`, so the peers cannot drift from it. */
export function specOf(model: Cnn): CnnSpec {
  const convs: ConvSpec[] = [];
  let fc: Linear | undefined;
  for (const [name, m] of model.namedModules()) {
    if (m instanceof Conv2d) {
      const [kh, kw] = m.kernelSize;
      const [sh, sw] = m.stride;
      const [ph, pw] = m.padding;
      if (kh !== kw || sh !== sw || ph !== pw || m.groups !== 1 || m.dilation[0] !== 1 || m.dilation[1] !== 1) {
        throw new Error(`train-step: ${name} is not a square, ungrouped, undilated conv; the peers cannot mirror it`);
      }
      if (m.bias) throw new Error(`train-step: ${name} has a bias; with BN the cnn's convs have none`);
      convs.push({ inC: m.inChannels, outC: m.outChannels, kernel: kh, stride: sh, padding: ph });
    } else if (m instanceof Linear) {
      fc = m;
    }
  }
  if (!fc || convs.length === 0) throw new Error('train-step: the cnn has no conv or no linear layer');
  return { convs, poolAfterFirst: model.pool, linearIn: fc.inFeatures, classes: fc.outFeatures };
}

/** Spatial size after each conv (and the pool), PyTorch's floor rule. */
function spatialSizes(spec: CnnSpec): { inH: number; outH: number }[] {
  const out: { inH: number; outH: number }[] = [];
  let h = SIZE;
  spec.convs.forEach((c, i) => {
    const o = Math.floor((h + 2 * c.padding - c.kernel) / c.stride) + 1;
    out.push({ inH: h, outH: o });
    h = o;
    if (i === 0 && spec.poolAfterFirst && h >= 2) h = Math.floor(h / 2);
  });
  return out;
}

/** Multiply-adds ×2 of the convs and the linear layer over forward + both backward passes. */
function stepFlops(spec: CnnSpec): number {
  let f = 0;
  const sizes = spatialSizes(spec);
  spec.convs.forEach((c, i) => {
    const one = 2 * BATCH * c.outC * sizes[i]!.outH ** 2 * c.inC * c.kernel ** 2;
    // forward + weight gradient, + input gradient except for the first conv (its input is data).
    f += one * (i === 0 ? 2 : 3);
  });
  f += 3 * 2 * BATCH * spec.linearIn * spec.classes;
  return f;
}

/** Trainable parameters: convs (no bias), BN weight + bias, linear weight + bias. */
function specParams(spec: CnnSpec): { trainable: number; buffers: number } {
  let trainable = spec.linearIn * spec.classes + spec.classes;
  let buffers = 0;
  for (const c of spec.convs) {
    trainable += c.outC * c.inC * c.kernel ** 2 + 2 * c.outC;
    buffers += 2 * c.outC; // running mean and variance (PyTorch also counts num_batches_tracked)
  }
  return { trainable, buffers };
}

/** The batch of the JS runners (PyTorch draws its own seeded one): standard-normal images, uniform labels. */
export function makeBatch(): { images: Float32Array; labels: Int32Array } {
  const rng = new Rng(DATA_SEED);
  const images = new Float32Array(BATCH * IN_C * SIZE * SIZE);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const labels = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) labels[i] = rng.int(CLASSES);
  return { images, labels };
}

function buildNormlab(): Cnn {
  return cnn({ norm: 'bn', inChannels: IN_C, numClasses: CLASSES, seed: 1 });
}

/** Per-phase times of every normlab step (forward + loss, backward, optimizer), in ms. */
interface Phases {
  forward: number[];
  backward: number[];
  step: number[];
}

function normlabRunner(ctx: SuiteContext, phases: Phases): Runner {
  let model: Cnn | undefined;
  let opt: SGD | undefined;
  let x: Tensor | undefined;
  let labels: Int32Array | undefined;
  return {
    name: `normlab (${ctx.backend})`,
    setup: () => {
      model = buildNormlab();
      model.train();
      opt = new SGD(model.parameters(), { lr: LR, momentum: MOMENTUM });
      const b = makeBatch();
      x = fromArray(b.images, [BATCH, IN_C, SIZE, SIZE]);
      labels = b.labels;
    },
    run: () => {
      const t0 = performance.now();
      opt!.zeroGrad();
      const loss = F.crossEntropy(model!.forward(new Variable(x!)), labels!);
      // Every peer reads its loss back too (trainOnBatch always does).
      const value = loss.item();
      const t1 = performance.now();
      loss.backward();
      const t2 = performance.now();
      opt!.step();
      phases.forward.push(t1 - t0);
      phases.backward.push(t2 - t1);
      phases.step.push(performance.now() - t2);
      return value;
    },
  };
}

/** TF's 'same' padding for one dimension: [before, after]. */
function tfSamePads(inH: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(inH / stride);
  const total = Math.max((out - 1) * stride + kernel - inH, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * The architecture in tfjs-layers, NHWC (tfjs's native layout). A conv whose PyTorch padding
 * equals TF's 'same' padding uses 'same'; otherwise (stride 2 on an even input, where 'same'
 * pads only after) an explicit ZeroPadding2D and a 'valid' conv compute exactly PyTorch's conv.
 */
export function buildTfModel(spec: CnnSpec): tf.Sequential {
  const m = tf.sequential();
  const sizes = spatialSizes(spec);
  spec.convs.forEach((c, i) => {
    const { inH } = sizes[i]!;
    const [before, after] = tfSamePads(inH, c.kernel, c.stride);
    const first = i === 0 ? { inputShape: [SIZE, SIZE, IN_C] } : {};
    let padding: 'same' | 'valid' = 'same';
    if (before !== c.padding || after !== c.padding) {
      m.add(tf.layers.zeroPadding2d({ padding: c.padding, ...first }));
      padding = 'valid';
    }
    m.add(
      tf.layers.conv2d({
        ...(padding === 'same' ? first : {}),
        filters: c.outC,
        kernelSize: c.kernel,
        strides: c.stride,
        padding,
        useBias: false,
        kernelInitializer: tf.initializers.heNormal({ seed: 1 + i }),
      }),
    );
    m.add(tf.layers.batchNormalization({ axis: -1, momentum: 1 - BN_MOMENTUM, epsilon: BN_EPS }));
    m.add(tf.layers.reLU());
    if (i === 0 && spec.poolAfterFirst) m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  });
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: spec.classes }));
  m.compile({
    optimizer: tf.train.momentum(LR, MOMENTUM),
    // Softmax cross-entropy on the logits, as F.crossEntropy and torch's cross_entropy.
    loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
  });
  return m;
}

function tfTrainableParams(m: tf.LayersModel): number {
  return m.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

/**
 * tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter kernel, so no conv net can train on it
 * as shipped. This registers one for 'wasm' composed of wasm kernels (pad, 9 strided slices
 * concatenated into an im2col matrix, transposed, one BatchMatMul), the standard lowering of a
 * conv's weight gradient, so the wasm peer trains with wasm kernels throughout. The explicit
 * Transpose measured 2× faster than BatchMatMul's transposeA, which takes a slow path.
 */
let wasmFilterGradRegistered = false;
export function registerWasmConv2DBackpropFilter(): void {
  if (wasmFilterGradRegistered || tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  wasmFilterGradRegistered = true;
  type Info = tf.TensorInfo;
  type KernelArgs = { inputs: Record<string, Info> | Info[]; backend: tf.KernelBackend; attrs?: Record<string, unknown> };
  const kernel = (name: string) => {
    const k = tf.getKernel(name, 'wasm');
    if (!k) throw new Error(`train-step: tfjs-backend-wasm has no ${name} kernel`);
    return k.kernelFunc as unknown as (args: KernelArgs) => Info;
  };
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: KernelArgs) => {
      const { x, dy } = inputs as Record<string, Info>;
      const a = attrs as { strides: [number, number] | number; pad: never; dataFormat: string; dimRoundingMode?: never; filterShape: [number, number, number, number] };
      if (a.dataFormat !== 'NHWC') throw new Error(`train-step: wasm Conv2DBackpropFilter supports NHWC only, got ${a.dataFormat}`);
      const info = tf.backend_util.computeConv2DInfo(
        x!.shape as [number, number, number, number],
        a.filterShape,
        a.strides,
        1,
        a.pad,
        a.dimRoundingMode,
        false,
        'channelsLast',
      );
      const { batchSize: n, inChannels: ci, outChannels: co, outHeight: ho, outWidth: wo, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
      const temps: Info[] = [];
      const keep = (t: Info) => (temps.push(t), t);
      const padded = keep(
        kernel('PadV2')({
          inputs: { x: x! },
          backend,
          attrs: { paddings: [[0, 0], [padInfo.top, padInfo.bottom], [padInfo.left, padInfo.right], [0, 0]], constantValue: 0 },
        }),
      );
      const slices: Info[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          slices.push(
            keep(
              kernel('StridedSlice')({
                inputs: { x: padded },
                backend,
                attrs: {
                  begin: [0, i, j, 0],
                  end: [n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, ci],
                  strides: [1, sh, sw, 1],
                  beginMask: 0,
                  endMask: 0,
                  ellipsisMask: 0,
                  newAxisMask: 0,
                  shrinkAxisMask: 0,
                },
              }),
            ),
          );
        }
      }
      // cols[(n,ho,wo), (i,j,ci)]: the filter's HWIO order, so the product reshapes to it directly.
      const cols = keep(kernel('Concat')({ inputs: slices, backend, attrs: { axis: 3 } }));
      const cols3 = keep(kernel('Reshape')({ inputs: { x: cols }, backend, attrs: { shape: [1, n * ho * wo, kh * kw * ci] } }));
      const dy3 = keep(kernel('Reshape')({ inputs: { x: dy! }, backend, attrs: { shape: [1, n * ho * wo, co] } }));
      // An explicit transpose and a plain product: BatchMatMul with transposeA is far slower on wasm.
      const colsT = keep(kernel('Transpose')({ inputs: { x: cols3 }, backend, attrs: { perm: [0, 2, 1] } }));
      const prod = keep(kernel('BatchMatMul')({ inputs: { a: colsT, b: dy3 }, backend, attrs: { transposeA: false, transposeB: false } }));
      const out = kernel('Reshape')({ inputs: { x: prod }, backend, attrs: { shape: [kh, kw, ci, co] } });
      for (const t of temps) backend.disposeData(t.dataId);
      return out;
    }) as unknown as tf.KernelFunc,
  });
}

/**
 * Check the registered wasm Conv2DBackpropFilter against the definition (a float64 loop) on every
 * conv of the architecture, at batch 2, with the padding the tfjs model uses: a wrong weight
 * gradient would make the wasm row time a different computation. Returns the worst relative error.
 */
export function checkWasmConv2DBackpropFilter(spec: CnnSpec): number {
  const sizes = spatialSizes(spec);
  const n = 2;
  let worst = 0;
  spec.convs.forEach((c, layer) => {
    const [before, after] = tfSamePads(sizes[layer]!.inH, c.kernel, c.stride);
    // As buildTfModel: 'same' where it equals the symmetric padding, else pre-padded 'valid'.
    const h = before === c.padding && after === c.padding ? sizes[layer]!.inH : sizes[layer]!.inH + 2 * c.padding;
    const pad = h === sizes[layer]!.inH ? 'same' : 'valid';
    const rng = new Rng(100 + layer);
    const xv = Float32Array.from({ length: n * h * h * c.inC }, () => rng.normal());
    const info = tf.backend_util.computeConv2DInfo([n, h, h, c.inC], [c.kernel, c.kernel, c.inC, c.outC], c.stride, 1, pad);
    const { outHeight: ho, outWidth: wo, padInfo } = info;
    const dyv = Float32Array.from({ length: n * ho * wo * c.outC }, () => rng.normal());
    const got = tf.tidy(() =>
      (
        tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x: tf.tensor4d(xv, [n, h, h, c.inC]), dy: tf.tensor4d(dyv, [n, ho, wo, c.outC]) },
          { strides: [c.stride, c.stride], pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [c.kernel, c.kernel, c.inC, c.outC] } as never,
        ) as tf.Tensor
      ).dataSync(),
    );
    const k = c.kernel;
    const want = new Float64Array(k * k * c.inC * c.outC);
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const dyBase = ((b * ho + oy) * wo + ox) * c.outC;
          for (let i = 0; i < k; i++) {
            const iy = oy * c.stride + i - padInfo.top;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < k; j++) {
              const ix = ox * c.stride + j - padInfo.left;
              if (ix < 0 || ix >= h) continue;
              const xBase = ((b * h + iy) * h + ix) * c.inC;
              for (let ci = 0; ci < c.inC; ci++) {
                const xval = xv[xBase + ci]!;
                const wBase = ((i * k + j) * c.inC + ci) * c.outC;
                for (let co = 0; co < c.outC; co++) want[wBase + co]! += xval * dyv[dyBase + co]!;
              }
            }
          }
        }
      }
    }
    let maxAbs = 0;
    let maxErr = 0;
    for (let i = 0; i < want.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
      maxErr = Math.max(maxErr, Math.abs(want[i]! - got[i]!));
    }
    const rel = maxErr / Math.max(maxAbs, 1e-12);
    if (!(rel <= 1e-4)) {
      throw new Error(`train-step: the composed wasm Conv2DBackpropFilter is wrong for conv ${layer + 1} (${c.inC}→${c.outC}, stride ${c.stride}, ${pad}): relative error ${rel}`);
    }
    worst = Math.max(worst, rel);
  });
  return worst;
}

function tfRunner(backend: TfBackend, spec: CnnSpec, counts: Map<string, number>): Runner {
  let model: tf.Sequential | undefined;
  let xs: tf.Tensor | undefined;
  let ys: tf.Tensor | undefined;
  const runner: Runner = {
    name: tfPeerName(backend),
    setup: async () => {
      const why = await useTf(backend);
      if (why) return why;
      if (backend === 'wasm' && !tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
        registerWasmConv2DBackpropFilter();
        const err = checkWasmConv2DBackpropFilter(spec);
        runner.note = `Conv2DBackpropFilter composed of wasm kernels by this suite (checked against the definition: max relative error ${err.toExponential(1)})`;
      }
      model = buildTfModel(spec);
      counts.set(tfPeerName(backend), tfTrainableParams(model));
      const b = makeBatch();
      // C = 1, so the NCHW batch is already NHWC in memory.
      xs = tf.tensor4d(b.images, [BATCH, SIZE, SIZE, IN_C]);
      ys = tf.oneHot(tf.tensor1d(b.labels, 'int32'), spec.classes).toFloat();
    },
    run: () => model!.trainOnBatch(xs!, ys!),
    teardown: () => {
      xs?.dispose();
      ys?.dispose();
      model?.dispose();
    },
  };
  return runner;
}

/** The torch_bench.py case parameters for this architecture. */
function torchParams(spec: CnnSpec): Record<string, unknown> {
  return {
    batch: BATCH,
    in_channels: IN_C,
    size: SIZE,
    convs: spec.convs.map((c) => [c.inC, c.outC, c.kernel, c.stride, c.padding]),
    pool_after_first: spec.poolAfterFirst,
    linear_in: spec.linearIn,
    classes: spec.classes,
    lr: LR,
    momentum: MOMENTUM,
    bn_momentum: BN_MOMENTUM,
    bn_eps: BN_EPS,
    seed: DATA_SEED,
  };
}

/** PyTorch's trainable parameter count for the same spec (torch_bench.describe_train_step_cnn). */
function torchParamCount(ctx: SuiteContext, params: Record<string, unknown>): number | string {
  if (!ctx.torch) return 'disabled with --no-torch';
  if (!torchAvailable()) return `${PYTHON} -c "import torch" failed`;
  const code =
    'import json, sys; sys.path.insert(0, sys.argv[1]); import torch_bench; ' +
    'print(json.dumps(torch_bench.describe_train_step_cnn(json.load(sys.stdin))))';
  const r = spawnSync(PYTHON, ['-c', code, path.join(BENCH_ROOT, 'python')], { input: JSON.stringify(params), encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return `torch_bench.describe_train_step_cnn failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  return (JSON.parse(r.stdout) as { trainable: number }).trainable;
}

const CASE = 'cnn-BN training step';

const suite: Suite = {
  name: 'train-step',
  title: 'training step (cnn with BatchNorm, batch 32, 1×28×28, 10 classes)',
  description:
    'One optimizer step of the `cnn` model of @normlab/models with `norm: "bn"` (its default widths, strides and pooling; ' +
    'convs without bias, BN with affine, ReLU, global average pool, linear) on a seeded random MNIST-shaped batch: forward, ' +
    'softmax cross-entropy, backward, SGD (lr 0.01, momentum 0.9), loss read back. The peers build the same layers from ' +
    'the normlab model: tfjs-layers `tf.sequential` (NHWC) trained with `model.trainOnBatch`, and `torch.nn.Sequential` ' +
    'with `torch.optim.SGD`. GFLOP/s count the convs and the linear layer only (forward, weight gradient, input gradient ' +
    'except for the first conv); images/s = 32 / median step time.',
  async run(ctx: SuiteContext) {
    const model = buildNormlab();
    const spec = specOf(model);
    const flops = stepFlops(spec);
    const counts = new Map<string, number>();
    const normlabCount = model.parameters().reduce((s, p) => s + p.data.size, 0);
    const expected = specParams(spec);
    if (normlabCount !== expected.trainable) {
      throw new Error(`train-step: normlab cnn has ${normlabCount} trainable parameters, the spec ${expected.trainable}: the cnn has layers this suite does not mirror`);
    }
    counts.set('normlab', normlabCount);
    const sizes = spatialSizes(spec);
    ctx.log(
      `  architecture: ${spec.convs.map((c, i) => `conv${c.kernel}x${c.kernel}/${c.stride} ${c.inC}→${c.outC} @${sizes[i]!.inH}→${sizes[i]!.outH}`).join(', ')}` +
        `${spec.poolAfterFirst ? ', maxpool 2×2 after block 1' : ''}, GAP, linear ${spec.linearIn}→${spec.classes}`,
    );

    const tParams = torchParams(spec);
    const torchCount = torchParamCount(ctx, tParams);
    if (typeof torchCount === 'number') counts.set('PyTorch', torchCount);
    const torch = torchRunners(ctx, [{ name: CASE, op: 'train_step_cnn', params: tParams }]);

    const phases: Phases = { forward: [], backward: [], step: [] };
    const [result] = (await benchCases(ctx, [
      {
        name: CASE,
        flops,
        description: `x [${BATCH},${IN_C},${SIZE},${SIZE}], ${spec.classes} classes`,
        subject: normlabRunner(ctx, phases),
        peers: [...cpuPeer(ctx, () => normlabRunner(ctx, { forward: [], backward: [], step: [] })), tfRunner('cpu', spec, counts), tfRunner('wasm', spec, counts), ...torch.runners.get(CASE)!],
      },
    ])) as [CaseResult];

    const countLine = [...counts].map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ');
    ctx.log(`  trainable parameters: ${countLine}`);
    const mismatched = [...counts].filter(([, v]) => v !== normlabCount);
    if (mismatched.length) {
      throw new Error(`train-step: trainable parameter counts differ (${countLine}): the peers do not build the same architecture`);
    }

    const notes: string[] = [];
    notes.push(
      `Architecture (read off the normlab model): ${spec.convs
        .map((c, i) => `conv ${c.kernel}×${c.kernel} stride ${c.stride} pad ${c.padding} ${c.inC}→${c.outC} (${sizes[i]!.inH}→${sizes[i]!.outH} px)`)
        .join('; ')}${spec.poolAfterFirst ? '; 2×2 max-pool after the first block' : ''}; BN + ReLU after each conv; global average pool; linear ${spec.linearIn}→${spec.classes}.`,
    );
    notes.push(
      `Trainable parameters, checked equal: ${countLine} (plus ${expected.buffers} BN running-statistic values, not trained).`,
    );
    const subj = result.results[0]!;
    const ips = result.results
      .filter((r) => r.status === 'ok')
      .map((r) => `${r.peer} ${Math.round((BATCH * 1000) / r.medianMs!)}`)
      .join(', ');
    notes.push(`Training throughput (images/s, median step): ${ips}.`);
    if (phases.forward.length) {
      // Warm-up calls included: the split, not the total, is what this line is for.
      const f = median(phases.forward);
      const b = median(phases.backward);
      const o = median(phases.step);
      const t = f + b + o;
      const pct = (v: number) => `${Math.round((100 * v) / t)}%`;
      notes.push(
        `normlab step split (medians over ${phases.forward.length} calls): forward + loss ${f.toFixed(1)} ms (${pct(f)}), ` +
          `backward ${b.toFixed(1)} ms (${pct(b)}), SGD update ${o.toFixed(1)} ms (${pct(o)}).`,
      );
    }
    const wasmNote = result.results.find((r) => r.peer === 'tfjs-backend-wasm')?.note;
    if (wasmNote) notes.push(`tfjs-backend-wasm: ${wasmNote}.`);
    const wasmRatio = result.ratios['tfjs-backend-wasm'];
    notes.push(
      wasmRatio === undefined
        ? 'Target normlab ≥ 1× tfjs-backend-wasm: not measured (peer skipped).'
        : `Target normlab ≥ 1× tfjs-backend-wasm: ${wasmRatio >= 1 ? 'reached' : 'NOT reached'} in this run (${wasmRatio.toFixed(2)}×).`,
    );
    if (subj.status !== 'ok') notes.push('normlab did not run.');
    notes.push(
      'tfjs pads stride-2 convs on even inputs with an explicit ZeroPadding2D + "valid" conv (its "same" would pad only after the image, unlike PyTorch and normlab); the others use "same", which is then identical.',
      'tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so as shipped it cannot train a conv net; this suite registers one composed of wasm kernels (PadV2, StridedSlice ×9, Concat, Transpose, BatchMatMul: im2col and one GEMM; its kernel time is in the wasm row).',
      "tfjs-backend-cpu's step time is dominated by its Conv2DBackpropFilter kernel (a direct loop; see the conv2d suite), so it gets one sample.",
      'On this shared 2-core machine PyTorch\'s 2-thread row contends with the other processes for the second core; its 1-thread row is the stable reference.',
      ...torch.notes,
    );
    return { cases: [result], notes };
  },
};

export default suite;
