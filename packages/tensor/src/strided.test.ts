import { describe, expect, it } from 'vitest';
import { broadcastStridesOf, forEachRow, planStrided } from './kernels/cpu/strided.js';

describe('strided walk planning', () => {
  it('merges contiguous axes and drops size-1 axes', () => {
    const p = planStrided([2, 1, 3, 4], [[12, 12, 4, 1]]);
    expect(p.dims).toEqual([24]);
    expect(p.strides).toEqual([[1]]);
    expect(p.size).toBe(24);
  });
  it('keeps axes apart where any operand breaks contiguity', () => {
    // out [2,3,4] contiguous; b broadcast along axis 1 (stride 0)
    const p = planStrided([2, 3, 4], [[12, 4, 1], [4, 0, 1]]);
    expect(p.dims).toEqual([2, 3, 4]);
    // a transposed operand
    const q = planStrided([3, 2], [[2, 1], [1, 3]]);
    expect(q.dims).toEqual([3, 2]);
    expect(q.strides).toEqual([[2, 1], [1, 3]]);
  });
  it('handles 0-d and all-ones shapes as one row of one element', () => {
    expect(planStrided([], [[]]).dims).toEqual([1]);
    expect(planStrided([1, 1], [[5, 7]]).dims).toEqual([1]);
  });
  it('broadcast strides put 0 on new and size-1 axes', () => {
    expect(broadcastStridesOf([4, 1], [1, 1], [2, 4, 3])).toEqual([0, 1, 0]);
  });
  it('forEachRow visits every row with the right pointers', () => {
    const plan = planStrided([2, 3, 2], [[6, 2, 1], [1, 2, 6]]);
    const seen: Array<[number, number, number]> = [];
    forEachRow(plan, [0, 100], (p, n) => seen.push([p[0]!, p[1]!, n]));
    expect(seen).toEqual([[0, 100, 2], [2, 102, 2], [4, 104, 2], [6, 101, 2], [8, 103, 2], [10, 105, 2]]);
    let calls = 0;
    forEachRow(planStrided([2, 0], [[0, 1]]), [0], () => calls++);
    expect(calls).toBe(0);
  });
});
