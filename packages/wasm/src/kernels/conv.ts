/**
 * conv2d forward and both gradients on the wasm GEMM, by im2col over chunks of images:
 *
 * - forward:          out_g (Cout/g × nb·L) = W_g (Cout/g × K) · col_g (K × nb·L)
 * - input gradient:   dcol_g (K × nb·L)     = W_gᵀ (K × Cout/g) · dy_g (Cout/g × nb·L), then col2im
 * - weight gradient:  dW_g (Cout/g × K)    += dy_g (Cout/g × nb·L) · col_gᵀ (nb·L × K)
 *
 * with K = Cin/g·kH·kW, L = Ho·Wo and nb images side by side (`chunkImages`). im2col writes the
 * column matrix of one chunk (it stays in L2) and the GEMM's `packB` packs it; the weight operand
 * is read in place through strides (Wᵀ is a strided view). Items for the threads:
 * forward (chunk, group, block of output channels), input gradient (chunk, group, block of input
 * channels: the dcol rows of a channel only reach that channel's dx plane), weight gradient
 * (chunk): each chunk's dW goes to its own partial, and the partials are added in chunk order,
 * so the bits do not depend on the thread count. Arithmetic in float32 (as PyTorch's).
 */
import { type Conv2dParams, Tensor, getNumThreads, parallelFor, rangeKernel } from '@normlab/tensor';
import { alloc, claimSlot, heapF32, kernels, kernelsFor, mark, release, releaseSlot, wasmMemory } from '../runtime.js';
import { PIECES, type SlotArgs, slotArgs, slotsOf, stage, unstage } from '../stage.js';
import { GEMM_NR } from './matmul.js';

/** Images side by side until a chunk has this many output columns (the cpu kernels' rule). */
const MERGE_COLS = 256;
/** At most this many images per chunk, so that even small batches give the threads several chunks. */
const MAX_CHUNK = 8;
/** Output channels per forward item. */
const FORWARD_ROWS = 64;
/** Input channels per input-gradient item. */
const INPUT_CHANNELS = 8;

function outDim(input: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((input + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** Images per chunk: a function of the shapes only (never of the thread count). */
export function chunkImages(n: number, L: number): number {
  return Math.max(1, Math.min(n, MAX_CHUNK, Math.ceil(MERGE_COLS / Math.max(L, 1))));
}

function pad8(n: number): number {
  return Math.ceil(n / GEMM_NR) * GEMM_NR;
}

/** What the conv range functions read: addresses in the shared memory and the geometry. */
export interface ConvWasmArgs extends SlotArgs {
  memory: WebAssembly.Memory;
  /** Forward: x, out = y. Input gradient: src = dy, out = dx. Weight gradient: src = dy, x = x, out = partials. */
  src: number;
  x: number;
  w: number;
  bias: number;
  out: number;
  n: number;
  cin: number;
  h: number;
  wd: number;
  cout: number;
  cg: number;
  kh: number;
  kw: number;
  ho: number;
  wo: number;
  groups: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  /** Images per chunk. */
  nb: number;
  /** Items per (chunk, group). */
  blocks: number;
}

/** Per-thread scratch layout: the GEMM's own, then three buffers of the given float counts. */
function scratchBytes(gemmBytes: number, ...floats: number[]): number {
  return gemmBytes + floats.reduce((s, f) => s + 4 * f + 64, 0);
}

interface Scratch {
  gemm: number;
  bufs: number[];
}

function scratchAt(base: number, gemmBytes: number, ...floats: number[]): Scratch {
  const bufs: number[] = [];
  let p = base + gemmBytes;
  for (const f of floats) {
    bufs.push(p);
    p += Math.ceil((4 * f) / 64) * 64 + 64;
  }
  return { gemm: base, bufs };
}

function geometry(a: ConvWasmArgs) {
  const L = a.ho * a.wo;
  const coutG = a.cout / a.groups;
  const K = a.cg * a.kh * a.kw;
  const chunks = Math.ceil(a.n / a.nb);
  return { L, coutG, K, chunks, ld: a.nb * L };
}

/** Forward items [i0, i1): item = (chunk, group, block of FORWARD_ROWS output channels). A range function. */
export function convForwardWasm(a: ConvWasmArgs, i0: number, i1: number): void {
  const ex = kernelsFor(a.memory);
  const { L, coutG, K, ld } = geometry(a);
  const slots = slotsOf(a);
  const slot = claimSlot(a.memory, slots);
  try {
    const gemmBytes = ex.GEMM_SCRATCH_BYTES.value as number;
    const s = scratchAt(slots.base + slot * slots.bytes, gemmBytes, K * ld, K * pad8(ld), coutG * ld);
    const [col, packed, acc] = s.bufs as [number, number, number];
    let current = -1;
    for (let it = i0; it < i1; it++) {
      const cg = Math.floor(it / a.blocks); // chunk·groups + group
      const chunk = Math.floor(cg / a.groups);
      const g = cg - chunk * a.groups;
      const img0 = chunk * a.nb;
      const nb = Math.min(a.nb, a.n - img0);
      const cols = nb * L;
      if (cg !== current) {
        current = cg;
        ex.im2col(a.src + 4 * img0 * a.cin * a.h * a.wd, a.cin * a.h * a.wd, nb, g * a.cg, a.cg, a.h, a.wd, a.kh, a.kw,
          a.strideH, a.strideW, a.padH, a.padW, a.dilationH, a.dilationW, a.ho, a.wo, col, cols);
        ex.packB(col, cols, 1, K, cols, packed);
      }
      const r0 = (it - cg * a.blocks) * FORWARD_ROWS;
      const r1 = Math.min(coutG, r0 + FORWARD_ROWS);
      ex.gemmRows(r0, r1, cols, K, a.w + 4 * g * coutG * K, K, 1, packed, acc, cols, 0, s.gemm);
      ex.scatterRows(acc + 4 * r0 * cols, nb, g * coutG + r0, r1 - r0, L, a.out + 4 * img0 * a.cout * L, a.cout * L, a.bias);
    }
  } finally {
    releaseSlot(a.memory, slots, slot);
  }
}

/** Input-gradient items [i0, i1): item = (chunk, group, block of INPUT_CHANNELS input channels). A range function. */
export function convBackwardInputWasm(a: ConvWasmArgs, i0: number, i1: number): void {
  const ex = kernelsFor(a.memory);
  const { L, coutG, K, ld } = geometry(a);
  const taps = a.kh * a.kw;
  const plane = a.h * a.wd;
  const slots = slotsOf(a);
  const slot = claimSlot(a.memory, slots);
  try {
    const gemmBytes = ex.GEMM_SCRATCH_BYTES.value as number;
    const s = scratchAt(slots.base + slot * slots.bytes, gemmBytes, coutG * ld, coutG * pad8(ld), K * ld);
    const [dyChunk, packed, dcol] = s.bufs as [number, number, number];
    const heap = new Float32Array(a.memory.buffer);
    let current = -1;
    for (let it = i0; it < i1; it++) {
      const cg = Math.floor(it / a.blocks);
      const chunk = Math.floor(cg / a.groups);
      const g = cg - chunk * a.groups;
      const img0 = chunk * a.nb;
      const nb = Math.min(a.nb, a.n - img0);
      const cols = nb * L;
      if (cg !== current) {
        current = cg;
        ex.gatherRows(a.src + 4 * img0 * a.cout * L, a.cout * L, nb, g * coutG, coutG, L, dyChunk);
        ex.packB(dyChunk, cols, 1, coutG, cols, packed);
      }
      const c0 = (it - cg * a.blocks) * INPUT_CHANNELS;
      const c1 = Math.min(a.cg, c0 + INPUT_CHANNELS);
      ex.gemmRows(c0 * taps, c1 * taps, cols, coutG, a.w + 4 * g * coutG * K, 1, K, packed, dcol, cols, 0, s.gemm);
      for (let b = 0; b < nb; b++) {
        const from = ((img0 + b) * a.cin + g * a.cg + c0) * plane + (a.out >>> 2);
        heap.fill(0, from, from + (c1 - c0) * plane);
      }
      ex.col2im(dcol + 4 * c0 * taps * cols, cols, a.out + 4 * img0 * a.cin * plane, a.cin * plane, nb, g * a.cg + c0, c1 - c0,
        a.h, a.wd, a.kh, a.kw, a.strideH, a.strideW, a.padH, a.padW, a.dilationH, a.dilationW, a.ho, a.wo);
    }
  } finally {
    releaseSlot(a.memory, slots, slot);
  }
}

/** Weight-gradient items [i0, i1): item = chunk, its dW into its own partial (Cout × K). A range function. */
export function convBackwardWeightWasm(a: ConvWasmArgs, i0: number, i1: number): void {
  const ex = kernelsFor(a.memory);
  const { L, coutG, K, ld } = geometry(a);
  const slots = slotsOf(a);
  const slot = claimSlot(a.memory, slots);
  try {
    const gemmBytes = ex.GEMM_SCRATCH_BYTES.value as number;
    const s = scratchAt(slots.base + slot * slots.bytes, gemmBytes, K * ld, pad8(K) * ld, coutG * ld);
    const [col, packed, dyChunk] = s.bufs as [number, number, number];
    for (let chunk = i0; chunk < i1; chunk++) {
      const img0 = chunk * a.nb;
      const nb = Math.min(a.nb, a.n - img0);
      const cols = nb * L;
      for (let g = 0; g < a.groups; g++) {
        ex.im2col(a.x + 4 * img0 * a.cin * a.h * a.wd, a.cin * a.h * a.wd, nb, g * a.cg, a.cg, a.h, a.wd, a.kh, a.kw,
          a.strideH, a.strideW, a.padH, a.padW, a.dilationH, a.dilationW, a.ho, a.wo, col, cols);
        // B = colᵀ (depth nb·L × K columns): element (p, k) at col[k·cols + p].
        ex.packB(col, 1, cols, cols, K, packed);
        ex.gatherRows(a.src + 4 * img0 * a.cout * L, a.cout * L, nb, g * coutG, coutG, L, dyChunk);
        ex.gemmRows(0, coutG, K, cols, dyChunk, cols, 1, packed, a.out + 4 * (chunk * a.cout + g * coutG) * K, K, 0, s.gemm);
      }
    }
  } finally {
    releaseSlot(a.memory, slots, slot);
  }
}

const forwardTask = rangeKernel(import.meta.url, 'convForwardWasm', convForwardWasm);
const inputTask = rangeKernel(import.meta.url, 'convBackwardInputWasm', convBackwardInputWasm);
const weightTask = rangeKernel(import.meta.url, 'convBackwardWeightWasm', convBackwardWeightWasm);

/**
 * Winograd F(2×2, 3×3) (assembly/winograd.ts) takes 3×3, stride-1, undilated convolutions with at
 * least 2 input channels per group: 16 GEMMs of depth Cin/g on transformed tiles, 2.25× fewer
 * multiplies than im2col. With one input channel per group the transforms cost more than the
 * multiplies saved (the cpu kernels' measurement; the same rule here).
 */
function useWinograd(kh: number, kw: number, p: Conv2dParams, cg: number): boolean {
  return kh === 3 && kw === 3 && p.strideH === 1 && p.strideW === 1 && p.dilationH === 1 && p.dilationW === 1 && cg >= 2;
}

/** What `winogradImages` reads: a stride-1 3×3 convolution of `src` (n, cin, h, w) into `out` (n, cout, ho, wo). */
export interface WinogradArgs extends SlotArgs {
  memory: WebAssembly.Memory;
  src: number;
  /** The transformed weights: U[g][ξ] (cout/g × cin/g, row-major) at u + ((g·16 + ξ)·cout/g)·cin/g floats. */
  u: number;
  bias: number;
  out: number;
  cin: number;
  h: number;
  wd: number;
  cout: number;
  groups: number;
  padH: number;
  padW: number;
  ho: number;
  wo: number;
  /** Tiles per block (a multiple of 8): a block's transformed input stays in L2. */
  tb: number;
}

function winogradTiles(a: { ho: number; wo: number }): { tw: number; T: number } {
  const tw = Math.ceil(a.wo / 2);
  return { tw, T: Math.ceil(a.ho / 2) * tw };
}

/** Items [i0, i1): item = (image, group), every tile block of it. A range function. */
export function winogradImages(a: WinogradArgs, i0: number, i1: number): void {
  const ex = kernelsFor(a.memory);
  const cg = a.cin / a.groups;
  const coutG = a.cout / a.groups;
  const { tw, T } = winogradTiles(a);
  const vStride = cg * a.tb;
  const mStride = coutG * a.tb;
  const slots = slotsOf(a);
  const slot = claimSlot(a.memory, slots);
  try {
    const gemmBytes = ex.GEMM_SCRATCH_BYTES.value as number;
    const s = scratchAt(slots.base + slot * slots.bytes, gemmBytes, 16 * vStride, 16 * mStride);
    const [v, m] = s.bufs as [number, number];
    for (let it = i0; it < i1; it++) {
      const img = Math.floor(it / a.groups);
      const g = it - img * a.groups;
      const src = a.src + 4 * (img * a.cin + g * cg) * a.h * a.wd;
      const out = a.out + 4 * (img * a.cout + g * coutG) * a.ho * a.wo;
      for (let t0 = 0; t0 < T; t0 += a.tb) {
        const tb = Math.min(a.tb, T - t0);
        ex.winogradInput(src, cg, a.h, a.wd, a.padH, a.padW, tw, t0, tb, v, vStride);
        for (let xi = 0; xi < 16; xi++) {
          ex.gemmRows(0, coutG, tb, cg, a.u + 4 * (g * 16 + xi) * coutG * cg, cg, 1, v + 4 * xi * vStride, m + 4 * xi * mStride, tb, 0, s.gemm);
        }
        ex.winogradOutput(m, mStride, coutG, tb, t0, tw, out, a.ho, a.wo, a.bias === 0 ? 0 : a.bias + 4 * g * coutG);
      }
    }
  } finally {
    releaseSlot(a.memory, slots, slot);
  }
}

const winogradTask = rangeKernel(import.meta.url, 'winogradImages', winogradImages);

/**
 * G g Gᵀ of every 3×3 filter of `w` (cout × cg × 3 × 3, float32) into the arena as U[g][ξ]
 * (see `WinogradArgs.u`); returns its address.
 */
function transformWeights(w: Float32Array, cout: number, cg: number, groups: number): number {
  const coutG = cout / groups;
  const u = alloc(4 * 16 * cout * cg);
  const U = heapF32();
  const base = u >>> 2;
  for (let co = 0; co < cout; co++) {
    const g = Math.floor(co / coutG);
    const cl = co - g * coutG;
    for (let ci = 0; ci < cg; ci++) {
      const q = (co * cg + ci) * 9;
      // G·g (4×3), rows: g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2; then each row (x0, x1, x2) times Gᵀ.
      const rows = [
        w[q]!, w[q + 1]!, w[q + 2]!,
        0.5 * (w[q]! + w[q + 3]! + w[q + 6]!), 0.5 * (w[q + 1]! + w[q + 4]! + w[q + 7]!), 0.5 * (w[q + 2]! + w[q + 5]! + w[q + 8]!),
        0.5 * (w[q]! - w[q + 3]! + w[q + 6]!), 0.5 * (w[q + 1]! - w[q + 4]! + w[q + 7]!), 0.5 * (w[q + 2]! - w[q + 5]! + w[q + 8]!),
        w[q + 6]!, w[q + 7]!, w[q + 8]!,
      ];
      for (let r = 0; r < 4; r++) {
        const x0 = rows[3 * r]!, x1 = rows[3 * r + 1]!, x2 = rows[3 * r + 2]!;
        const vals = [x0, 0.5 * (x0 + x1 + x2), 0.5 * (x0 - x1 + x2), x2];
        for (let c = 0; c < 4; c++) U[base + ((g * 16 + 4 * r + c) * coutG + cl) * cg + ci] = vals[c]!;
      }
    }
  }
  return u;
}

/** A stride-1 3×3 convolution by Winograd over the staged `src` into `out` (both arena addresses). */
function winogradConv(src: number, wData: Float32Array, bias: number, out: number, n: number, cin: number, h: number, wd: number, cout: number, groups: number, padH: number, padW: number, ho: number, wo: number): void {
  const cg = cin / groups;
  const coutG = cout / groups;
  const { T } = winogradTiles({ ho, wo });
  const tb = Math.max(8, Math.min(Math.ceil(T / 8) * 8, Math.floor(8192 / cg / 8) * 8));
  const u = transformWeights(wData, cout, cg, groups);
  const gemmBytes = kernels().GEMM_SCRATCH_BYTES.value as number;
  const a: WinogradArgs = {
    memory: wasmMemory(), src, u, bias, out, cin, h, wd, cout, groups, padH, padW, ho, wo, tb,
    ...slotArgs(getNumThreads(), scratchBytes(gemmBytes, 16 * cg * tb, 16 * coutG * tb)),
  };
  const items = n * groups;
  if (items > 0) parallelFor(winogradTask, a, items, (2 * 16 * coutG * cg * T) / groups, { out: [], pieces: PIECES });
}

function baseArgs(inputShape: readonly number[], weightShape: readonly number[], p: Conv2dParams, ho: number, wo: number) {
  const [n, cin, h, wd] = inputShape as [number, number, number, number];
  const [cout, cg, kh, kw] = weightShape as [number, number, number, number];
  const nb = chunkImages(n, ho * wo);
  return { n, cin, h, wd, cout, cg, kh, kw, ho, wo, groups: p.groups, strideH: p.strideH, strideW: p.strideW, padH: p.padH, padW: p.padW, dilationH: p.dilationH, dilationW: p.dilationW, nb };
}

/** The `conv2d` kernel. */
export function conv2dWasm(x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv2dParams): Tensor {
  const [n, , h, wd] = x.shape as [number, number, number, number];
  const [cout, , kh, kw] = weight.shape as [number, number, number, number];
  const ho = outDim(h, kh, p.strideH, p.padH, p.dilationH);
  const wo = outDim(wd, kw, p.strideW, p.padW, p.dilationW);
  const top = mark();
  try {
    const g0 = baseArgs(x.shape, weight.shape, p, ho, wo);
    const X = stage(x.contiguous());
    const W = stage(weight.contiguous());
    const B = bias ? stage(bias.contiguous()).ptr : 0;
    const out = alloc(4 * n * cout * ho * wo);
    if (useWinograd(kh, kw, p, g0.cg)) {
      winogradConv(X.ptr, weight.contiguous().data as Float32Array, B, out, n, g0.cin, h, wd, cout, p.groups, p.padH, p.padW, ho, wo);
      return unstage(out, [n, cout, ho, wo]);
    }
    const L = ho * wo;
    const coutG = cout / p.groups;
    const K = g0.cg * kh * kw;
    const ld = g0.nb * L;
    const gemmBytes = kernels().GEMM_SCRATCH_BYTES.value as number;
    const blocks = Math.ceil(coutG / FORWARD_ROWS);
    const a: ConvWasmArgs = {
      memory: wasmMemory(), src: X.ptr, x: 0, w: W.ptr, bias: B, out, ...g0, blocks,
      ...slotArgs(getNumThreads(), scratchBytes(gemmBytes, K * ld, K * pad8(ld), coutG * ld)),
    };
    const items = Math.ceil(n / g0.nb) * p.groups * blocks;
    if (items > 0) parallelFor(forwardTask, a, items, (2 * n * cout * L * K) / items, { out: [], pieces: PIECES });
    return unstage(out, [n, cout, ho, wo]);
  } finally {
    release(top);
  }
}

/** The `conv2dBackwardInput` kernel. */
export function conv2dBackwardInputWasm(dy: Tensor, weight: Tensor, inputShape: readonly number[], p: Conv2dParams): Tensor {
  const [n, cin, h, wd] = inputShape as [number, number, number, number];
  const [, , ho, wo] = dy.shape as [number, number, number, number];
  const [cout, cg, kh, kw] = weight.shape as [number, number, number, number];
  const top = mark();
  try {
    const g0 = baseArgs(inputShape, weight.shape, p, ho, wo);
    const DY = stage(dy.contiguous());
    const W = stage(weight.contiguous());
    const out = alloc(4 * n * cin * h * wd);
    const coutG = cout / p.groups;
    // Stride 1: dx is the full correlation of dy with the flipped, transposed weight, dx =
    // conv2d(dy, W', padding k − 1 − p), W'[g·Cin/g + ci, co, i, j] = W[g·Cout/g + co, ci, kH−1−i, kW−1−j],
    // so a 3×3 input gradient runs Winograd as the forward does.
    const flipH = kh - 1 - p.padH;
    const flipW = kw - 1 - p.padW;
    if (flipH >= 0 && flipW >= 0 && useWinograd(kh, kw, p, coutG)) {
      const wd0 = weight.contiguous().data;
      const taps = kh * kw;
      const flipped = new Float32Array(cin * coutG * taps);
      for (let g = 0; g < p.groups; g++) {
        for (let co = 0; co < coutG; co++) {
          for (let ci = 0; ci < cg; ci++) {
            const from = ((g * coutG + co) * cg + ci) * taps;
            const to = ((g * cg + ci) * coutG + co) * taps;
            for (let t = 0; t < taps; t++) flipped[to + t] = wd0[from + taps - 1 - t]!;
          }
        }
      }
      winogradConv(DY.ptr, flipped, 0, out, n, cout, ho, wo, cin, p.groups, flipH, flipW, h, wd);
      return unstage(out, [n, cin, h, wd]);
    }
    const L = ho * wo;
    const K = cg * kh * kw;
    const ld = g0.nb * L;
    const gemmBytes = kernels().GEMM_SCRATCH_BYTES.value as number;
    const blocks = Math.ceil(cg / INPUT_CHANNELS);
    const a: ConvWasmArgs = {
      memory: wasmMemory(), src: DY.ptr, x: 0, w: W.ptr, bias: 0, out, ...g0, blocks,
      ...slotArgs(getNumThreads(), scratchBytes(gemmBytes, coutG * ld, coutG * pad8(ld), K * ld)),
    };
    const items = Math.ceil(n / g0.nb) * p.groups * blocks;
    if (items > 0) parallelFor(inputTask, a, items, (2 * n * cout * L * K) / items, { out: [], pieces: PIECES });
    else heapF32().fill(0, out >>> 2, (out >>> 2) + n * cin * h * wd);
    return unstage(out, [n, cin, h, wd]);
  } finally {
    release(top);
  }
}

/** The `conv2dBackwardWeight` kernel. */
export function conv2dBackwardWeightWasm(dy: Tensor, x: Tensor, weightShape: readonly number[], p: Conv2dParams): Tensor {
  const [n] = x.shape as [number];
  const [, , ho, wo] = dy.shape as [number, number, number, number];
  const [cout, cg, kh, kw] = weightShape as [number, number, number, number];
  const top = mark();
  try {
    const g0 = baseArgs(x.shape, weightShape, p, ho, wo);
    const DY = stage(dy.contiguous());
    const X = stage(x.contiguous());
    const L = ho * wo;
    const coutG = cout / p.groups;
    const K = cg * kh * kw;
    const ld = g0.nb * L;
    const chunks = Math.ceil(n / g0.nb);
    const size = cout * K;
    const partials = alloc(4 * Math.max(1, chunks) * size);
    const out = alloc(4 * size);
    const gemmBytes = kernels().GEMM_SCRATCH_BYTES.value as number;
    const a: ConvWasmArgs = {
      memory: wasmMemory(), src: DY.ptr, x: X.ptr, w: 0, bias: 0, out: partials, ...g0, blocks: 1,
      ...slotArgs(getNumThreads(), scratchBytes(gemmBytes, K * ld, pad8(K) * ld, coutG * ld)),
    };
    if (chunks > 0 && L > 0) {
      parallelFor(weightTask, a, chunks, (2 * n * cout * L * K) / chunks, { out: [], pieces: PIECES });
      kernels().sumPartials(partials, chunks, size, out);
    } else {
      heapF32().fill(0, out >>> 2, (out >>> 2) + size);
    }
    return unstage(out, [cout, cg, kh, kw]);
  } finally {
    release(top);
  }
}
