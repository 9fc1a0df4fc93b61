/**
 * End-to-end: small networks fit small synthetic tasks to near-zero loss with these layers,
 * losses, optimizers and schedules (the acceptance test; a few seconds in total).
 */
import { F, Variable } from '@normlab/autograd';
import { Rng, Tensor, argmax } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import { Conv2d, Dropout, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential } from './layers.js';
import type { Module } from './module.js';
import { AdamW, type Optimizer, SGD } from './optim.js';
import { CosineAnnealingLR, LinearWarmup, type LRScheduler } from './schedule.js';
import { clipGradNorm } from './clip.js';

function fit(net: Module, x: Tensor, y: Int32Array, opt: Optimizer<{ lr: number }>, sched: LRScheduler | null, steps: number) {
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    const loss = F.crossEntropy(net.forward(new Variable(x)), y);
    loss.backward();
    clipGradNorm(net.parameters(), 10);
    opt.step();
    sched?.step();
    losses.push(loss.item());
  }
  net.eval();
  const logits = net.forward(new Variable(x));
  const pred = argmax(logits.data, 1).toTypedArray();
  const accuracy = [...pred].filter((p, i) => p === y[i]).length / y.length;
  return { first: losses[0]!, last: F.crossEntropy(logits, y).item(), accuracy };
}

describe('training to near-zero loss', () => {
  it('an MLP learns XOR-like quadrants (SGD, Nesterov, warmup + cosine, dropout)', () => {
    const rng = new Rng(1);
    const n = 64;
    const x = new Float32Array(n * 2);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      // Points away from the axes, so the classes are separable with a margin.
      const a = (rng.uniform() * 0.8 + 0.2) * (rng.uniform() < 0.5 ? -1 : 1);
      const b = (rng.uniform() * 0.8 + 0.2) * (rng.uniform() < 0.5 ? -1 : 1);
      x[2 * i] = a;
      x[2 * i + 1] = b;
      y[i] = a * b > 0 ? 1 : 0;
    }
    const net = new Sequential(
      new Linear(2, 32, { seed: 1 }),
      new ReLU(),
      new Dropout(0.1, { seed: 2 }),
      new Linear(32, 32, { seed: 3 }),
      new ReLU(),
      new Linear(32, 2, { seed: 4 }),
    );
    const opt = new SGD(net.parameters(), { lr: 0.2, momentum: 0.9, nesterov: true, weightDecay: 1e-5 });
    const sched = new LinearWarmup(opt, { warmupSteps: 20, after: new CosineAnnealingLR(opt, 400) });
    const r = fit(net, new Tensor(x, [n, 2]), y, opt, sched, 300);
    expect(r.first).toBeGreaterThan(0.5);
    expect(r.last).toBeLessThan(0.02);
    expect(r.accuracy).toBe(1);
  });

  it('a CNN with weight standardization tells horizontal from vertical bars (AdamW)', () => {
    const rng = new Rng(2);
    const n = 32;
    const size = 8;
    const x = new Float32Array(n * size * size);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 2;
      const line = rng.int(size);
      for (let r = 0; r < size; r++) {
        for (let c = 0; c < size; c++) {
          const on = y[i] === 0 ? r === line : c === line;
          x[i * size * size + r * size + c] = (on ? 1 : 0) + rng.normal(0, 0.1);
        }
      }
    }
    const net = new Sequential(
      new Conv2d(1, 8, 3, { padding: 1, seed: 1, weightStandardization: true }),
      new ReLU(),
      new MaxPool2d(2),
      new Conv2d(8, 8, 3, { padding: 1, seed: 2 }),
      new ReLU(),
      new GlobalAvgPool2d(),
      new Flatten(),
      new Linear(8, 2, { seed: 3 }),
    );
    const opt = new AdamW(net.parameters(), { lr: 0.02, weightDecay: 0 });
    const r = fit(net, new Tensor(x, [n, 1, size, size]), y, opt, null, 150);
    expect(r.first).toBeGreaterThan(0.5);
    expect(r.last).toBeLessThan(0.02);
    expect(r.accuracy).toBe(1);
  });
});
