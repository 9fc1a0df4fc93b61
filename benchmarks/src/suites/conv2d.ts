/**
 * conv2d forward, input gradient and weight gradient at N 32, 16→32 channels, 28×28, 3×3,
 * padding 1 (float32): normlab against tfjs-cpu, tfjs-wasm and PyTorch.
 */
import {
  type Tensor,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dOutputShape,
  randn,
} from '@normlab/tensor';
import { type CaseResult, type Runner, type Suite, type SuiteContext, benchCases, cpuPeer, targetNote, torchRunners } from '../harness.js';
import { type TfBackend, tf, tfHasKernel, tfPeerName, useTf } from '../tfjs.js';

const N = 32;
const CIN = 16;
const COUT = 32;
const H = 28;
const W = 28;
const K = 3;
const PAD = 1;

export type Kind = 'forward' | 'backward input' | 'backward weight';
export const KINDS: Kind[] = ['forward', 'backward input', 'backward weight'];
const TORCH_OP: Record<Kind, string> = {
  forward: 'conv2d',
  'backward input': 'conv2d_backward_input',
  'backward weight': 'conv2d_backward_weight',
};
const TF_KERNEL: Record<Kind, string> = {
  forward: 'Conv2D',
  'backward input': 'Conv2DBackpropInput',
  'backward weight': 'Conv2DBackpropFilter',
};

/**
 * tfjs in its native NHWC / HWIO layout (inputs built once, outside the timed calls); the gpu
 * suite uses it too, at the same shape.
 */
export function tfRunner(backend: TfBackend, kind: Kind): Runner {
  let x: tf.Tensor4D | undefined;
  let f: tf.Tensor4D | undefined;
  let dy: tf.Tensor4D | undefined;
  return {
    name: tfPeerName(backend),
    setup: async () => {
      const why = await useTf(backend);
      if (why) return why;
      if (!tfHasKernel(TF_KERNEL[kind])) return `${tfPeerName(backend)} has no ${TF_KERNEL[kind]} kernel`;
      x = tf.randomNormal([N, H, W, CIN], 0, 1, 'float32', 1) as tf.Tensor4D;
      f = tf.randomNormal([K, K, CIN, COUT], 0, 1, 'float32', 2) as tf.Tensor4D;
      dy = tf.randomNormal([N, H, W, COUT], 0, 1, 'float32', 3) as tf.Tensor4D;
    },
    run: () => {
      let y: tf.Tensor;
      if (kind === 'forward') {
        y = tf.conv2d(x!, f!, 1, PAD);
      } else if (kind === 'backward input') {
        y = tf.conv2dTranspose(dy!, f!, [N, H, W, CIN], 1, PAD);
      } else {
        y = tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x: x!, dy: dy! },
          { strides: [1, 1], pad: PAD, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [K, K, CIN, COUT] } as never,
        ) as tf.Tensor;
      }
      y.dataSync();
      y.dispose();
    },
    teardown: () => {
      x?.dispose();
      f?.dispose();
      dy?.dispose();
    },
  };
}

function normlabRunner(ctx: SuiteContext, kind: Kind): Runner {
  let x: Tensor | undefined;
  let w: Tensor | undefined;
  let dy: Tensor | undefined;
  const opts = { padding: PAD };
  return {
    name: `normlab (${ctx.backend})`,
    setup: () => {
      x = randn([N, CIN, H, W], { seed: 1 });
      w = randn([COUT, CIN, K, K], { seed: 2 });
      dy = randn(conv2dOutputShape(x.shape, w.shape, opts), { seed: 3 });
    },
    run: () => {
      if (kind === 'forward') return conv2d(x!, w!, null, opts);
      if (kind === 'backward input') return conv2dBackwardInput(dy!, w!, x!.shape, opts);
      return conv2dBackwardWeight(dy!, x!, w!.shape, opts);
    },
  };
}

const suite: Suite = {
  name: 'conv2d',
  title: 'conv2d (N 32, 16→32 channels, 28×28, 3×3, padding 1)',
  description:
    'float32, stride 1, padding 1, no bias; FLOPs per call = 2·N·Cout·Ho·Wo·Cin·kH·kW = 231.2 M for each of the three ' +
    'kernels. normlab wasm (NCHW): im2col over chunks of images + the f32x4 GEMM for all three (input gradient = Wᵀ·dy + col2im, ' +
    'weight gradient = dy·colᵀ, one partial per chunk), float32 sums. normlab cpu: forward and input gradient by Winograd ' +
    'F(2×2,3×3) (16 GEMMs on transformed tiles, 2.25× fewer multiplies than im2col; GFLOP/s are counted as direct-convolution ' +
    'FLOPs for every implementation), weight gradient = dy·colᵀ GEMM summed over the batch, float64 sums. tfjs runs its native NHWC layout.',
  async run(ctx: SuiteContext) {
    const flops = 2 * N * COUT * H * W * CIN * K * K;
    const caseName = (k: Kind) => `conv2d ${k}`;
    const torch = torchRunners(
      ctx,
      KINDS.map((k) => ({
        name: caseName(k),
        op: TORCH_OP[k],
        params: { x: [N, CIN, H, W], w: [COUT, CIN, K, K], padding: PAD },
      })),
    );
    const cases: CaseResult[] = await benchCases(
      ctx,
      KINDS.map((kind) => ({
        name: caseName(kind),
        flops,
        description: `x [${N},${CIN},${H},${W}], weight [${COUT},${CIN},${K},${K}], padding ${PAD}`,
        subject: normlabRunner(ctx, kind),
        peers: [...cpuPeer(ctx, () => normlabRunner(ctx, kind)), tfRunner('cpu', kind), tfRunner('wasm', kind), ...torch.runners.get(caseName(kind))!],
      })),
    );
    return {
      cases,
      notes: [
        ...[targetNote(cases.find((c) => c.name === caseName('forward')), 'tfjs-backend-cpu', 4)].filter((x): x is string => x !== undefined),
        ...torch.notes,
        'PyTorch backward rows call aten::convolution_backward with an output mask for just the one gradient.',
        'tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter kernel, so it has no weight-gradient row.',
      ],
    };
  },
};

export default suite;
