/**
 * The activation probe: one norm layer's input and output on a fixed batch, as per-group
 * histograms. The layer's `forward` is wrapped on this model instance (a forward hook, local to
 * the playground), and records only while a probe runs.
 */
import type { Variable } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import { ShapeError, TensorError, type Tensor } from '@normlab/tensor';
import type { GroupHistogram } from './protocol.js';

export const HISTOGRAM_BINS = 32;

/** Record what `layer` takes and returns while `capture` runs `fn`. */
export function forwardRecorder(layer: Module): <T>(fn: () => T) => { result: T; input: Tensor; output: Tensor } {
  const forward = layer.forward.bind(layer);
  let seen: { input: Tensor; output: Tensor } | null = null;
  let recording = false;
  layer.forward = (x: Variable): Variable => {
    const y = forward(x);
    if (recording) seen = { input: x.data, output: y.data };
    return y;
  };
  return <T>(fn: () => T) => {
    recording = true;
    seen = null;
    try {
      const result = fn();
      const got = seen as { input: Tensor; output: Tensor } | null;
      if (!got) throw new TensorError('probe', `the probed layer ${layer.constructor.name} was not called`);
      return { result, ...got };
    } finally {
      recording = false;
    }
  };
}

/**
 * Histograms of an (N, C, H, W) tensor's values per group of C/groups consecutive channels (over
 * all samples and positions), each over its own range: mean ± 4 standard deviations, narrowed to
 * the values' extent.
 */
export function groupHistograms(x: Tensor, groups: number, bins = HISTOGRAM_BINS): GroupHistogram[] {
  if (x.shape.length !== 4) throw new ShapeError('groupHistograms', `expected an (N, C, H, W) tensor, got shape [${x.shape.join(', ')}]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new TensorError('groupHistograms', `groups must divide the ${c} channels, got ${groups}`);
  }
  const data = x.contiguous().data;
  const s = h * w;
  const cg = c / groups;
  const out: GroupHistogram[] = [];
  for (let g = 0; g < groups; g++) {
    // The group's values: channels g·cg .. (g+1)·cg of every sample.
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) runs.push([(i * c + g * cg) * s, (i * c + (g + 1) * cg) * s]);
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    let count = 0;
    for (const [a, b] of runs) {
      for (let k = a; k < b; k++) {
        const v = data[k]!;
        sum += v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      count += b - a;
    }
    const mean = sum / count;
    let sq = 0;
    for (const [a, b] of runs) for (let k = a; k < b; k++) sq += (data[k]! - mean) ** 2;
    const std = Math.sqrt(sq / count);
    let lo = Math.max(min, mean - 4 * std);
    let hi = Math.min(max, mean + 4 * std);
    if (!(hi > lo)) {
      // All values equal (a dead group): one bin's width around them.
      lo = mean - 0.5;
      hi = mean + 0.5;
    }
    const counts = new Array<number>(bins).fill(0);
    const scale = bins / (hi - lo);
    for (const [a, b] of runs) {
      for (let k = a; k < b; k++) {
        const bin = Math.floor((data[k]! - lo) * scale);
        counts[bin < 0 ? 0 : bin >= bins ? bins - 1 : bin]!++;
      }
    }
    out.push({ lo, hi, counts, mean, std });
  }
  return out;
}
