import { Variable } from '@normlab/autograd';
import { Module } from '@normlab/nn';
import { ShapeError, TensorError, mul, randn, sum, tensor } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import { forwardRecorder, groupHistograms } from './probe.js';

describe('groupHistograms', () => {
  it('counts each group of channels over all samples and positions', () => {
    // N 2, C 4, 1×2: group 0 = channels 0–1, group 1 = channels 2–3.
    const x = tensor([0, 0, 1, 1, 10, 10, 10, 30, 0, 1, 0, 1, 20, 20, 20, 20], [2, 4, 1, 2]);
    const [g0, g1] = groupHistograms(x, 2, 4);
    expect(g0!.counts.reduce((a, b) => a + b)).toBe(8);
    expect(g0!.mean).toBe(0.5);
    expect(g0!.std).toBe(0.5);
    expect([g0!.lo, g0!.hi]).toEqual([0, 1]);
    expect(g0!.counts).toEqual([4, 0, 0, 4]); // 1 is the upper edge: the last bin
    expect(g1!.mean).toBe(17.5); // (3·10 + 30 + 4·20) / 8
    expect([g1!.lo, g1!.hi]).toEqual([10, 30]);
    expect(g1!.counts).toEqual([3, 0, 4, 1]);
  });

  it('keeps outliers in the end bins of a mean ± 4σ range, and gives a constant group one centred bin', () => {
    const values = new Array<number>(100).fill(0);
    values[0] = 1000;
    const [h] = groupHistograms(tensor(values, [1, 1, 10, 10]), 1, 10);
    expect(h!.hi).toBeCloseTo(h!.mean + 4 * h!.std, 9);
    expect(h!.counts[9]).toBe(1);
    expect(h!.counts.reduce((a, b) => a + b)).toBe(100);
    const [flat] = groupHistograms(tensor(new Array<number>(8).fill(2), [1, 2, 2, 2]), 1, 5);
    expect([flat!.lo, flat!.hi, flat!.std]).toEqual([1.5, 2.5, 0]);
    expect(flat!.counts).toEqual([0, 0, 8, 0, 0]);
  });

  it('names a wrong shape or a group count that does not divide the channels', () => {
    expect(() => groupHistograms(randn([2, 6]), 1)).toThrow(ShapeError);
    expect(() => groupHistograms(randn([1, 6, 2, 2]), 4)).toThrow(/groups must divide the 6 channels, got 4/);
  });
});

class Double extends Module {
  forward(x: Variable): Variable {
    return new Variable(mul(x.data, 2));
  }
}

describe('forwardRecorder', () => {
  it("records a layer's input and output only while it records, and says when the layer was not called", () => {
    const layer = new Double();
    const record = forwardRecorder(layer);
    const x = tensor([1, 2, 3], [3]);
    const { result, input, output } = record(() => sum(layer.forward(new Variable(x)).data).item());
    expect(result).toBe(12);
    expect(Array.from(input.data)).toEqual([1, 2, 3]);
    expect(Array.from(output.data)).toEqual([2, 4, 6]);
    expect(Array.from(layer.forward(new Variable(x)).data.data)).toEqual([2, 4, 6]);
    expect(() => record(() => 0)).toThrow(TensorError);
    expect(() => record(() => 0)).toThrow(/Double was not called/);
  });
});
