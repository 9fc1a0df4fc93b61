import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataLoader, normalize, syntheticImages, toFloat } from '@normlab/datasets';
import { BatchNorm2d, Distortion, setWarningHandler as setNormWarningHandler } from '@normlab/norm-layers';
import { SGD } from '@normlab/nn';
import { Variable } from '@normlab/autograd';
import { randn } from '@normlab/tensor';
import { TrainingError, buildModel, evaluate, loadCheckpoint, reseedModules, train, type ModelConfig, type StepMetrics, type TrainOptions } from './index.js';

const trainSet = syntheticImages({ n: 48, height: 12, width: 12, seed: 0 });
const testSet = syntheticImages({ n: 20, height: 12, width: 12, seed: 0, split: 'test' });
const transforms = () => [toFloat(), normalize([0.5], [0.25])];
const loaders = (seed = 3) => ({
  trainLoader: new DataLoader(trainSet, { batchSize: 8, shuffle: true, seed, dropLast: true, transforms: transforms() }),
  testLoader: new DataLoader(testSet, { batchSize: 10, transforms: transforms() }),
});
/** BN buffers, a distortion stream, momentum, warmup and a cosine schedule: everything resume must restore. */
const CONFIG: ModelConfig = { name: 'cnn', channels: [8, 8, 16], norm: 'bn', seed: 1, distortion: { kind: 'santurkar' } };
const dir = () => mkdtempSync(join(tmpdir(), 'normlab-train-'));

function run(extra: Partial<TrainOptions> & { out: string }) {
  const { out, ...rest } = extra;
  const model = buildModel(CONFIG);
  const steps: StepMetrics[] = [];
  const result = train({
    model,
    ...loaders(),
    epochs: 3,
    lr: 0.05,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
    schedule: 'cosine',
    warmup: 0.5,
    metricsPath: join(out, 'metrics.jsonl'),
    checkpointPath: join(out, 'model.safetensors'),
    onStep: (m) => steps.push(m),
    ...rest,
  });
  return { model, result, steps, metrics: readFileSync(join(out, 'metrics.jsonl'), 'utf8') };
}

describe('train', () => {
  it('logs a step line per step and an eval line per epoch, and learns', () => {
    const d = dir();
    const { result, steps, metrics } = run({ out: d });
    expect(result.stopped).toBe('completed');
    expect(result.steps).toBe(18);
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 18 }, (_, i) => i + 1));
    const lines = metrics.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(18 + 3);
    expect(Object.keys(lines[0])).toEqual(['step', 'epoch', 'loss', 'accuracy', 'gradNorm', 'lr']);
    expect(lines[6]).toMatchObject({ type: 'eval', epoch: 1, step: 6 });
    expect(result.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    // Warmup over 3 steps, then cosine over 18: lr rises, then falls.
    expect(steps[0]!.lr).toBeCloseTo(0.05 / 3 * Math.cos(0) * 1, 10);
    expect(steps[3]!.lr).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * 3) / 18)) / 2, 10);
    expect(steps[17]!.lr).toBeLessThan(steps[5]!.lr);
    for (const s of steps) expect(s.gradNorm).toBeGreaterThan(0);
    const firstLoss = steps.slice(0, 3).reduce((a, s) => a + s.loss, 0) / 3;
    expect(result.trainLoss!).toBeLessThan(firstLoss);
    expect(result.testAccuracy).toBeGreaterThan(0.2);
    expect(result.imagesPerSecond).toBeGreaterThan(0);
    const ev = evaluate(buildModel(CONFIG), loaders().testLoader);
    expect(ev.n).toBe(20);
  });

  it('the same seed gives byte-identical metrics.jsonl', () => {
    const a = run({ out: dir(), epochs: 1 });
    const b = run({ out: dir(), epochs: 1 });
    expect(b.metrics).toBe(a.metrics);
    const c = train({ model: buildModel(CONFIG), ...loaders(4), epochs: 1, lr: 0.05 });
    expect(c.trainLoss).not.toBe(a.result.trainLoss);
  });

  for (const stopAt of [6, 8]) {
    it(`a run stopped at step ${stopAt} and resumed ends identical to one never stopped`, () => {
      const full = run({ out: dir() });
      const d = dir();
      const first = run({ out: d, maxSteps: stopAt });
      expect(first.result.stopped).toBe('maxSteps');
      expect(first.result.trainLoss).toBe(stopAt === 6 ? first.result.history[0]!.trainLoss : (first.steps[6]!.loss * 8 + first.steps[7]!.loss * 8) / 16);
      expect(loadCheckpoint(join(d, 'model.safetensors')).step).toBe(stopAt);
      const resumed = run({ out: d, resume: join(d, 'model.safetensors') });
      expect(resumed.result.steps).toBe(18);
      expect(resumed.steps[0]!.step).toBe(stopAt + 1);
      expect(resumed.metrics).toBe(full.metrics);
      const a = full.model.stateDict();
      const b = resumed.model.stateDict();
      for (const k of Object.keys(a)) expect(b[k]!.toTypedArray(), k).toEqual(a[k]!.toTypedArray());
      expect(resumed.result.testAccuracy).toBe(full.result.testAccuracy);
      expect(resumed.result.trainLoss).toBe(full.result.trainLoss);
    });
  }

  it('refuses to resume into a different model or batch size', () => {
    const d = dir();
    run({ out: d, maxSteps: 2 });
    const ckpt = join(d, 'model.safetensors');
    expect(() => train({ model: buildModel({ ...CONFIG, norm: 'gn', groups: 4 }), ...loaders(), epochs: 1, resume: ckpt })).toThrow(/the model differs \(norm: checkpoint "bn", model "gn"/);
    const other = new DataLoader(trainSet, { batchSize: 4, shuffle: true, seed: 3, dropLast: true, transforms: transforms() });
    expect(() => train({ model: buildModel(CONFIG), trainLoader: other, epochs: 1, resume: ckpt })).toThrow(/6 steps per epoch, this loader has 12/);
  });

  it('a non-finite loss stops training with a TrainingError (or a report with onNonFinite: stop)', () => {
    const opts = () => ({ model: buildModel({ ...CONFIG, distortion: null, norm: 'none' as const }), ...loaders(), epochs: 2, lr: 1e30, momentum: 0 });
    expect(() => train(opts())).toThrow(TrainingError);
    expect(() => train(opts())).toThrow(/training diverged: the (loss|gradient norm) is (NaN|Infinity) at step \d+ \(epoch 1, batch \d+, lr 1e\+30\)/);
    const steps: StepMetrics[] = [];
    const r = train({ ...opts(), onNonFinite: 'stop', onStep: (m) => steps.push(m) });
    expect(r.stopped).toBe('nonFinite');
    expect(r.error).toMatch(/training diverged/);
    expect(Number.isFinite(steps[steps.length - 1]!.loss) && Number.isFinite(steps[steps.length - 1]!.gradNorm)).toBe(false);
  });

  it('a batch with a NaN stops training (or throws) with the running statistics of the last good step', () => {
    // The third batch of the run carries one NaN pixel: its loss is NaN, so the loop stops there.
    const poisonThird = () => {
      let calls = 0;
      return {
        name: 'poison',
        apply: (x: Float32Array) => {
          calls++;
          if (calls === 3) x[0] = Number.NaN;
        },
      };
    };
    const warnings: string[] = [];
    setNormWarningHandler((m) => warnings.push(m));
    try {
      for (const onNonFinite of ['stop', 'throw'] as const) {
        const model = buildModel({ ...CONFIG, distortion: null });
        const trainLoader = new DataLoader(trainSet, { batchSize: 8, seed: 3, dropLast: true, transforms: [...transforms(), poisonThird()] });
        let afterStep2: Array<[string, number[]]> = [];
        const opts = {
          model,
          trainLoader,
          epochs: 1,
          lr: 0.05,
          onNonFinite,
          onStep: (m: StepMetrics) => {
            if (m.step === 2) afterStep2 = model.namedBuffers().map(([k, t]) => [k, Array.from(t.toTypedArray())]);
          },
        };
        if (onNonFinite === 'stop') expect(train(opts)).toMatchObject({ stopped: 'nonFinite', steps: 2 });
        else expect(() => train(opts)).toThrow(/the loss is NaN at step 3/);
        expect(afterStep2.length).toBeGreaterThan(0);
        expect(model.namedBuffers().map(([k, t]) => [k, Array.from(t.toTypedArray())])).toEqual(afterStep2);
        const norms = model.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
        expect(norms.every((m) => m.skippedStatisticsUpdates === 1)).toBe(true);
        // The stopped model evaluates (a finite loss) and its checkpoint would be usable.
        expect(Number.isFinite(evaluate(model, loaders().testLoader).loss)).toBe(true);
      }
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/BatchNorm2d: a training batch's statistics are not finite/);
    } finally {
      setNormWarningHandler(undefined);
    }
  });

  it('onAfterBackward runs before the update; lossFn recomputes the step loss and leaves buffers alone', () => {
    const model = buildModel(CONFIG);
    const seen: Array<{ step: number; loss: number; again: number; buffersKept: boolean; gradKept: boolean }> = [];
    train({
      model,
      ...loaders(),
      epochs: 1,
      maxSteps: 3,
      onAfterBackward: (c) => {
        const before = model.namedBuffers().map(([, t]) => Array.from(t.toTypedArray()));
        const grad = model.classifier().weight.grad!.toTypedArray();
        const again = c.lossFn().item();
        const after = model.namedBuffers().map(([, t]) => Array.from(t.toTypedArray()));
        seen.push({ step: c.step, loss: c.loss, again, buffersKept: JSON.stringify(before) === JSON.stringify(after), gradKept: model.classifier().weight.grad!.toTypedArray().every((v, i) => v === grad[i]) });
      },
    });
    expect(seen.map((s) => s.step)).toEqual([1, 2, 3]);
    for (const s of seen) {
      expect(s.again).toBe(s.loss); // same weights, same batch, same distortion draws
      expect(s.buffersKept).toBe(true);
      expect(s.gradKept).toBe(true);
    }
  });

  it('accepts an optimizer instance and a scheduler stepped per epoch; adam applies L2 to the gradient', () => {
    const model = buildModel({ ...CONFIG, distortion: null });
    const optimizer = new SGD(model.parameters(), { lr: 0.01 });
    const r = train({ model, ...loaders(), epochs: 1, optimizer });
    expect(r.optimizer).toBe(optimizer);
    const a = train({ model: buildModel({ ...CONFIG, distortion: null }), ...loaders(), epochs: 1, optimizer: 'adam', weightDecay: 0.5 });
    const b = train({ model: buildModel({ ...CONFIG, distortion: null }), ...loaders(), epochs: 1, optimizer: 'adam', weightDecay: 0 });
    expect(a.trainLoss).not.toBe(b.trainLoss);
  });

  it('reseedModules makes what a step draws depend only on (seed, step)', () => {
    const model = buildModel(CONFIG);
    expect(model.modules().filter((m) => m instanceof Distortion).length).toBe(3);
    const x = new Variable(randn([4, 1, 12, 12], { seed: 5 }));
    const out = () => Array.from(model.forward(x).data.toTypedArray());
    reseedModules(model, 1, 5);
    const a = out();
    const drifted = out(); // the streams advanced
    reseedModules(model, 1, 5);
    const again = out();
    reseedModules(model, 1, 6);
    const next = out();
    expect(again).toEqual(a);
    expect(drifted).not.toEqual(a);
    expect(next).not.toEqual(a);
  });

  it('bad options are TrainingErrors naming the option', () => {
    const model = buildModel(CONFIG);
    expect(() => train({ model, ...loaders(), epochs: 0 })).toThrow(/epochs must be a positive integer, got 0/);
    expect(() => train({ model, ...loaders(), epochs: 1, optimizer: 'rmsprop' as 'sgd' })).toThrow(/optimizer must be one of sgd, adam, adamw, got "rmsprop"/);
    expect(() => train({ model, ...loaders(), epochs: 1, schedule: 'multistep' })).toThrow(/needs milestones/);
    expect(() => train({ model, ...loaders(), epochs: 1, lr: -1 })).toThrow(/lr must be a finite number > 0, got -1/);
    const tiny = new DataLoader(trainSet, { batchSize: 100, dropLast: true });
    expect(() => train({ model, trainLoader: tiny, epochs: 1 })).toThrow(/no batches \(48 examples, batch size 100, dropLast\)/);
  });
});
