/**
 * The standard profile: its plan (full training sets, batch 2…128 with the authors' rule, five
 * seeds behind every claim) and its CIFAR-10 form (ResNet-20 with crop and flip), run for a couple
 * of steps through `executeRun` on a synthetic file in the CIFAR-10 binary format.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { F, Variable, noGrad } from '@normlab/autograd';
import { CIFAR10_IMAGE_BYTES, CIFAR10_MEAN, CIFAR10_STD, DataLoader, cifar10, writeCifar10Batch } from '@normlab/datasets';
import { buildModel, type ResNet } from '@normlab/models';
import { Conv2d, type Module } from '@normlab/nn';
import { Rng, randn } from '@normlab/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { executeRun, runTransforms } from './execute.js';
import { ALL_EXAMPLES, getProfile, planRuns, STANDARD_EPOCHS, type PlannedRun } from './profiles.js';
import { analyzeRecords } from './report.js';
import { fakeExecutor } from './test-utils/fake.js';
import type { RunSpec } from './types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'normlab-standard-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('standard profile', () => {
  it('trains on whole datasets, sweeps batch 2…128 by the authors rule, and gives every claim five seeds', () => {
    const p = getProfile('standard', 'fashion-mnist');
    expect(p.sweep.batchSizes).toEqual([2, 4, 8, 16, 32, 64, 128]);
    const plan = planRuns(p);
    expect(plan.length).toBe(405);
    for (const { spec } of plan) {
      expect(spec).toMatchObject({ dataset: 'fashion-mnist', model: 'cnn', width: 0.5, trainLimit: ALL_EXAMPLES, testLimit: ALL_EXAMPLES, epochs: STANDARD_EPOCHS['fashion-mnist'] });
      if (spec.optimizer === 'sgd') expect(spec).toMatchObject({ lr: (0.1 * spec.batchSize) / 128, momentum: 0.9, weightDecay: 1e-4, milestones: [0.5, 0.75] });
    }
    expect(getProfile('standard').dataset).toBe('mnist');
    // Every comparison of every claim pairs five seeds: judge the plan's runs (faked, shortened so
    // a landscape run still has a Santurkar probe in each period).
    const exec = fakeExecutor();
    const records = plan.map((run) => {
      const short: PlannedRun = { ...run, spec: { ...run.spec, epochs: 1, trainLimit: run.spec.batchSize * 1000 } };
      return exec(short, { onStep: () => {} });
    });
    const findings = analyzeRecords(records, p.periods).findings;
    expect(findings.length).toBe(4 + 2 * 4); // GN's four, then beats-GN and more-stable for GNPlus ×3 orders and HybridNorm
    // GNPlus's other two orders are swept, not in the analysis setup: their stability claims have no runs.
    expect(findings.filter((f) => !f.evidence.length).map((f) => f.id)).toEqual(['GNPlus(bn-first)-more-stable', 'GNPlus(parallel)-more-stable']);
    for (const f of findings.filter((x) => x.evidence.length)) expect(f.seeds, f.id).toEqual({ min: 5, max: 5 });
  });

  it('on CIFAR-10: ResNet-20, crop 4 + flip on every training batch, no crop/flip regularizer', () => {
    const p = getProfile('standard', 'cifar10');
    const plan = planRuns(p);
    expect(new Set(plan.map((r) => r.spec.model))).toEqual(new Set(['resnet20']));
    expect(plan.every((r) => r.spec.augment?.cropPadding === 4 && r.spec.augment.flip && r.spec.groups === 8 && r.spec.epochs === 30)).toBe(true);
    expect(plan.some((r) => r.spec.regularizer?.kind === 'cropFlip')).toBe(false);
    // MNIST-sized runs are not augmented.
    expect(planRuns(getProfile('standard', 'mnist')).some((r) => r.spec.augment)).toBe(false);
  });
});

describe('standard profile on a CIFAR-10 binary file', () => {
  // Five training batches and a test batch in the CIFAR-10 binary layout: smooth random images
  // (so a crop's shift shows), labels 0..9.
  const dir = path.join(tmp, 'cifar-10-batches-bin');
  fs.mkdirSync(dir);
  const rng = new Rng(11);
  const makeBatch = (file: string, n: number) => {
    const images = new Uint8Array(n * CIFAR10_IMAGE_BYTES);
    for (let i = 0; i < images.length; i++) images[i] = (37 * (i % 32) + 11 * Math.floor(i / 32) + rng.int(40)) % 256;
    writeCifar10Batch(path.join(dir, file), images, Array.from({ length: n }, (_, i) => i % 10));
  };
  for (let b = 1; b <= 5; b++) makeBatch(`data_batch_${b}.bin`, 8);
  makeBatch('test_batch.bin', 12);

  const run = planRuns(getProfile('standard', 'cifar10')).find((r) => r.roles.includes('sweep') && r.spec.norm === 'gn' && r.spec.batchSize === 4 && r.spec.seed === 0)!;
  // The profile's spec, cut to two steps and a short test.
  const spec: RunSpec = { ...run.spec, epochs: 1, trainLimit: 8, testLimit: 4 };

  it('applies the crop and flip: each training image is a padded shift of its original, some mirrored', () => {
    const train = cifar10({ split: 'train', dataDir: tmp });
    expect(train.n).toBe(40);
    const { augment: _a, ...plainSpec } = spec;
    const loader = (s: RunSpec) => new DataLoader(train, { batchSize: 8, shuffle: true, seed: 0, transforms: runTransforms(s, { augment: true }) });
    const aug = loader(spec).batch(0, 0);
    const plain = loader(plainSpec).batch(0, 0);
    expect(Array.from(aug.indices)).toEqual(Array.from(plain.indices));
    const a = aug.images.toTypedArray();
    const x = plain.images.toTypedArray();
    const S = 32;
    const moves: string[] = [];
    for (let i = 0; i < 8; i++) {
      // Find the shift (dy, dx) in [−4, 4]² and flip that maps the plain image onto the augmented one;
      // pixels shifted in from outside hold the standardized zero of their channel.
      let found: string | null = null;
      for (let dy = -4; dy <= 4 && !found; dy++) {
        for (let dx = -4; dx <= 4 && !found; dx++) {
          for (const flip of [false, true]) {
            let ok = true;
            for (let c = 0; c < 3 && ok; c++) {
              const fill = (0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c];
              for (let y = 0; y < S && ok; y++) {
                for (let xx = 0; xx < S && ok; xx++) {
                  const sx = flip ? S - 1 - xx : xx; // the flip mirrors the cropped image
                  const [yy, xs] = [y + dy, sx + dx];
                  const want = yy < 0 || yy >= S || xs < 0 || xs >= S ? fill : x[((i * 3 + c) * S + yy) * S + xs];
                  ok = Math.abs(a[((i * 3 + c) * S + y) * S + xx] - want) < 1e-5;
                }
              }
            }
            if (ok) {
              found = `${dy},${dx},${flip}`;
              break;
            }
          }
        }
      }
      expect(found, `image ${i} is a crop (padding 4) and maybe a flip of its original`).not.toBeNull();
      moves.push(found!);
    }
    expect(moves.some((m) => m !== '0,0,false')).toBe(true);
    expect(moves.some((m) => m.endsWith('true'))).toBe(true);
    // Test images are never augmented.
    expect(runTransforms(spec).map((t) => t.name)).toEqual(['toFloat', 'normalize']);
    expect(runTransforms(spec, { augment: true }).map((t) => t.name)).toEqual(['toFloat', 'randomCrop', 'randomHorizontalFlip', 'normalize']);
  });

  it('trains ResNet-20 for two steps through executeRun from --data-dir, augmented', async () => {
    const rec = await executeRun({ ...run, spec }, { onStep: () => {}, dataDir: dir });
    expect(rec.status).toBe('ok');
    expect(rec.steps.loss.length).toBe(2);
    expect(rec.evals.at(-1)!.step).toBe(2);
    // The same run without augmentation starts from the same weights and batches, so the first
    // loss differs only through the crop and flip; a crop of padding 0 without flip changes nothing.
    // (One step each, to keep the test short.)
    const { augment: _a, ...plainSpec } = { ...spec, trainLimit: 4, testLimit: 4 };
    const plain = await executeRun({ ...run, spec: plainSpec }, { onStep: () => {}, dataDir: dir });
    const identity = await executeRun({ ...run, spec: { ...plainSpec, augment: { cropPadding: 0, flip: false } } }, { onStep: () => {}, dataDir: dir });
    expect(rec.steps.loss[0]).not.toBe(plain.steps.loss[0]);
    expect(identity.steps).toEqual(plain.steps);
  });

  it("ResNet-20's shapes: 16×32×32, 32×16×16, 64×8×8 stages, 19 3×3 convs, 272,474 parameters", () => {
    const model = buildModel({ name: spec.model, norm: spec.norm, groups: spec.groups, width: spec.width, inChannels: 3, numClasses: 10, seed: 0 }) as ResNet;
    const convs = model.modules().filter((m): m is Conv2d => m instanceof Conv2d);
    expect(convs.filter((c) => c.kernelSize[0] === 3).length).toBe(19);
    expect(convs.filter((c) => c.kernelSize[0] === 1).length).toBe(2); // the projection shortcuts into stages 2 and 3
    // Convolutions 270,256 (3·16·9 + 6·16·16·9 + 16·32·9 + 5·32·32·9 + 16·32 + 32·64·9 + 5·64·64·9 + 32·64),
    // the classifier 650, and a weight and a bias for each of the 784 normalized channels.
    expect(model.parameters().reduce((n, p) => n + p.data.size, 0)).toBe(270256 + 650 + 2 * 784);
    const children = Object.fromEntries(model.namedChildren()) as Record<string, Module>;
    noGrad(() => {
      let y: Variable = F.relu(model.norm1.forward(model.conv1.forward(new Variable(randn([2, 3, 32, 32], { seed: 1 })))));
      expect(y.shape).toEqual([2, 16, 32, 32]);
      const shapes = ['layer1', 'layer2', 'layer3'].map((name) => {
        y = children[name].forward(y);
        return y.shape;
      });
      expect(shapes).toEqual([[2, 16, 32, 32], [2, 32, 16, 16], [2, 64, 8, 8]]);
      expect(model.forward(new Variable(randn([2, 3, 32, 32], { seed: 1 }))).shape).toEqual([2, 10]);
    });
  });
});
