/** Run identity and display names. */
import type { RunSpec } from './types.js';

/** Keys sorted recursively, undefined dropped: the same spec always serializes the same way. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** FNV-1a 64-bit, as 16 hex digits: a short stable id (no crypto needed, collisions are astronomically unlikely for a few thousand specs). */
function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}

/** The norm as the report names it: GNPlus orders and HybridNorm spelled out. */
export function normLabel(spec: Pick<RunSpec, 'norm' | 'order'>): string {
  switch (spec.norm) {
    case 'bn':
      return 'BN';
    case 'gn':
      return 'GN';
    case 'ln':
      return 'LN';
    case 'in':
      return 'IN';
    case 'bgn':
      return 'BGN';
    case 'hybrid':
      return 'HybridNorm';
    case 'none':
      return 'none';
    case 'gnplus':
      return spec.order && spec.order !== 'gn-first' ? `GNPlus(${spec.order})` : 'GNPlus';
  }
}

/** Human-readable, file-safe id: `cnn-gn-b32-lr0.01-s0-<hash8>`. */
export function runId(spec: RunSpec): string {
  const parts = [spec.model, spec.norm + (spec.order && spec.order !== 'gn-first' ? `.${spec.order}` : ''), `b${spec.batchSize}`, `lr${spec.lr}`, `s${spec.seed}`];
  if (spec.distortion) parts.push(`${spec.distortion.kind}${spec.distortion.magnitude}`);
  if (spec.regularizer) parts.push(spec.regularizer.kind);
  if (spec.window) parts.push(`w${spec.window.live}of${spec.window.periods}`);
  return `${parts.join('-')}-${fnv1a64(canonicalJson(spec)).slice(0, 8)}`;
}

/**
 * What training sees, without the perturbation: the key that pairs a distorted or regularized run
 * with its clean run of the same seed. Post-training evaluations and the landscape probes (which
 * restore every parameter and buffer they touch) do not change training, so they are left out.
 */
export function cleanTrainingKey(spec: RunSpec): string {
  const { distortion: _d, regularizer: _r, evalNoise: _n, evalBatchSizes: _b, probes: _p, ...rest } = spec;
  return canonicalJson(rest);
}

/** The spec with normalization always live: the window ablation's always-on reference. */
export function withoutWindow(spec: RunSpec): RunSpec {
  const { window: _w, ...rest } = spec;
  return rest;
}

/** Describe a perturbation for tables: `additive ×0.5`, `dropout p=0.3`. */
export function perturbationLabel(spec: RunSpec): string {
  if (spec.distortion) return `${spec.distortion.kind} ×${spec.distortion.magnitude}`;
  const r = spec.regularizer;
  if (!r) return 'clean';
  switch (r.kind) {
    case 'dropout':
      return `dropout p=${r.p}`;
    case 'weightDecay':
      return `weight decay ${r.value}`;
    case 'labelSmoothing':
      return `label smoothing ${r.value}`;
    case 'cropFlip':
      return `crop(pad ${r.padding})+flip`;
  }
}
