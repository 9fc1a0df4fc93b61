/** matmul 512×512×512 (float32): normlab against tfjs-cpu, tfjs-wasm and PyTorch. */
import { type Tensor, matmul, randn } from '@normlab/tensor';
import { type CaseResult, type Runner, type Suite, type SuiteContext, benchCases, cpuPeer, targetNote, torchRunners } from '../harness.js';
import { type TfBackend, tf, tfPeerName, useTf } from '../tfjs.js';

const SIZES: Array<[number, number, number]> = [[512, 512, 512]];

function tfRunner(backend: TfBackend, m: number, k: number, n: number): Runner {
  let a: tf.Tensor2D | undefined;
  let b: tf.Tensor2D | undefined;
  return {
    name: tfPeerName(backend),
    setup: async () => {
      const why = await useTf(backend);
      if (why) return why;
      a = tf.randomNormal([m, k], 0, 1, 'float32', 1) as tf.Tensor2D;
      b = tf.randomNormal([k, n], 0, 1, 'float32', 2) as tf.Tensor2D;
    },
    run: () => {
      const c = tf.matMul(a!, b!);
      c.dataSync();
      c.dispose();
    },
    teardown: () => {
      a?.dispose();
      b?.dispose();
    },
  };
}

const suite: Suite = {
  name: 'matmul',
  title: 'matmul',
  description:
    'C = A·B for float32 A (M×K) and B (K×N), inputs standard normal. FLOPs = 2·M·N·K. ' +
    'normlab wasm: packed GEMM with a 4×8 f32x4 register tile in WebAssembly (float32 sums); normlab cpu: register-blocked (4×4 tile in locals), cache-blocked, packed GEMM in TypeScript, float64 accumulation.',
  async run(ctx: SuiteContext) {
    const name = (m: number, k: number, n: number) => `matmul ${m}×${k}×${n}`;
    const torch = torchRunners(
      ctx,
      SIZES.map(([m, k, n]) => ({ name: name(m, k, n), op: 'matmul', params: { m, k, n } })),
    );
    const cases: CaseResult[] = [];
    for (const [m, k, n] of SIZES) {
      const normlab = (): Runner => {
        let a: Tensor | undefined;
        let b: Tensor | undefined;
        return {
          name: `normlab (${ctx.backend})`,
          setup: () => {
            a = randn([m, k], { seed: 1 });
            b = randn([k, n], { seed: 2 });
          },
          run: () => matmul(a!, b!),
        };
      };
      const subject = normlab();
      cases.push(
        ...(await benchCases(ctx, [
          {
            name: name(m, k, n),
            flops: 2 * m * n * k,
            description: `float32 (${m}×${k}) · (${k}×${n})`,
            subject,
            peers: [...cpuPeer(ctx, normlab), tfRunner('cpu', m, k, n), tfRunner('wasm', m, k, n), ...torch.runners.get(name(m, k, n))!],
          },
        ])),
      );
    }
    return {
      cases,
      notes: [
        ...[targetNote(cases[0], 'tfjs-backend-cpu', 4)].filter((x): x is string => x !== undefined),
        ...torch.notes,
        "This Debian PyTorch build reports BLAS_INFO=generic (reference BLAS) for matmul, hence its low matmul figure; its convolutions use oneDNN (MKL-DNN).",
      ],
    };
  },
};

export default suite;
