/**
 * The paper's claims, each judged from the tables of these runs. Every sentence here is built from
 * numbers; nothing in a finding is written by hand. A comparison that goes the claimed way
 * *supports* it, the other way *contradicts* it, an exact tie is undecided; the verdict is the share
 * of decided comparisons that support the claim (all: supported, none: contradicted). Each
 * comparison also says whether the difference exceeds the seed-to-seed spread, so a verdict built
 * on differences within noise reads as such.
 */
import type { EvalBatchRow, PeriodRow, SensitivityRow, StabilityRow, SweepCell } from './aggregate.js';

export type Verdict = 'supported' | 'mostly supported' | 'mixed' | 'mostly contradicted' | 'contradicted' | 'insufficient data';

export interface Evidence {
  /** What is compared, e.g. `loss std around moving average (batch 8)`. */
  what: string;
  /** The claimed-worse/claimed-better pair as `name → value`. */
  values: Record<string, number>;
  /** true: goes the claimed way; false: the other way; null: a tie. */
  supports: boolean | null;
  /** Whether the difference is larger than the pooled seed-to-seed std (null when there is no spread to compare with). */
  beyondNoise: boolean | null;
}

export interface Finding {
  id: string;
  subject: string;
  claim: string;
  verdict: Verdict;
  summary: string;
  evidence: Evidence[];
}

export function verdictOf(evidence: readonly Evidence[]): Verdict {
  const decided = evidence.filter((e) => e.supports !== null);
  if (decided.length === 0) return 'insufficient data';
  const yes = decided.filter((e) => e.supports).length;
  const frac = yes / decided.length;
  if (frac === 1) return 'supported';
  if (frac === 0) return 'contradicted';
  if (frac > 0.5) return 'mostly supported';
  if (frac < 0.5) return 'mostly contradicted';
  return 'mixed';
}

/** Claimed direction: `worse` should exceed `better` (when higherIsWorse) — supports is then true. */
function compare(what: string, worseName: string, worse: number, betterName: string, better: number, opts: { higherIsWorse: boolean; noise?: number }): Evidence {
  const supports = worse === better ? null : opts.higherIsWorse ? worse > better : worse < better;
  const beyondNoise = opts.noise === undefined || !(opts.noise > 0) ? null : Math.abs(worse - better) > opts.noise;
  return { what, values: { [worseName]: worse, [betterName]: better }, supports, beyondNoise };
}

export function fmtNum(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const a = Math.abs(x);
  if (a >= 1000 || a < 1e-3) return x.toExponential(2);
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(3);
  return x.toPrecision(3);
}

export function fmtPct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function tally(evidence: readonly Evidence[]): string {
  const decided = evidence.filter((e) => e.supports !== null);
  const yes = decided.filter((e) => e.supports).length;
  const noisy = decided.filter((e) => e.beyondNoise !== null);
  const beyond = noisy.filter((e) => e.beyondNoise).length;
  const ties = evidence.length - decided.length;
  let s = `${yes} of ${decided.length} comparisons go the claimed way`;
  if (ties) s += ` (${ties} tied)`;
  if (noisy.length) s += `; ${beyond} of ${noisy.length} differences exceed the seed-to-seed std`;
  return s;
}

function pooled(a: number, b: number): number {
  return Math.sqrt((a * a + b * b) / 2);
}

/** Stability comparison of `worse` (claimed less stable) against `better`, at each batch size both have. */
function stabilityEvidence(rows: readonly StabilityRow[], worse: string, better: string): Evidence[] {
  const out: Evidence[] = [];
  for (const w of rows.filter((r) => r.norm === worse)) {
    const b = rows.find((r) => r.norm === better && r.batchSize === w.batchSize);
    if (!b) continue;
    const at = ` (batch ${w.batchSize})`;
    if (w.seeds > 1 && b.seeds > 1) {
      out.push(compare(`test accuracy std across seeds${at}`, worse, w.accuracy.std, better, b.accuracy.std, { higherIsWorse: true }));
    }
    out.push(compare(`training-loss std around its moving average${at}`, worse, w.lossStd, better, b.lossStd, { higherIsWorse: true }));
    out.push(compare(`loss spikes per run${at}`, worse, w.spikes, better, b.spikes, { higherIsWorse: true }));
    out.push(compare(`gradient-norm variance${at}`, worse, w.gradNormVar, better, b.gradNormVar, { higherIsWorse: true }));
  }
  return out;
}

function finding(id: string, subject: string, claim: string, evidence: Evidence[], extra = ''): Finding {
  const verdict = verdictOf(evidence);
  const summary = evidence.length ? `${verdict[0].toUpperCase()}${verdict.slice(1)}: ${tally(evidence)}.${extra}` : `No runs in this results file test it.${extra}`;
  return { id, subject, claim, verdict, summary, evidence };
}

export interface Tables {
  sweep: SweepCell[];
  stability: StabilityRow[];
  sensitivity: SensitivityRow[];
  periods: PeriodRow[];
  evalBatch: EvalBatchRow[];
}

/** The hybrid layers judged with the paper's GN+ claims: GNPlus in each order and HybridNorm. */
export function hybridNorms(t: Tables): string[] {
  const names = new Set<string>();
  for (const r of [...t.sweep, ...t.stability]) if (r.norm.startsWith('GNPlus') || r.norm === 'HybridNorm') names.add(r.norm);
  return [...names].sort((a, b) => (a === 'HybridNorm' ? 1 : b === 'HybridNorm' ? -1 : a < b ? -1 : 1));
}

function periodFinding(rows: readonly PeriodRow[], protocol: 'paper' | 'santurkar'): Finding {
  const field = protocol === 'paper' ? 'helpsPaper' : 'helpsSanturkar';
  const name = protocol === 'paper' ? "the paper's protocol" : "Santurkar et al.'s protocol";
  const id = `gn-helps-in-a-period-${protocol}`;
  const claim = `GN helps optimization only in some period of training, BN throughout (${name})`;
  const pattern = (norm: string) => rows.filter((r) => r.norm === norm).map((r) => r[field]);
  const bn = pattern('BN');
  const gn = pattern('GN');
  const evidence: Evidence[] = [];
  if (!bn.length || !gn.length || bn.some((x) => x === null) || gn.some((x) => x === null)) {
    return { id, subject: 'GN', claim, verdict: 'insufficient data', summary: 'The landscape runs for BN, GN and the unnormalized network are not all in this results file, or a period has no probe.', evidence };
  }
  const k = bn.length;
  const bnHelps = bn.filter(Boolean).length;
  const gnHelps = gn.filter(Boolean).length;
  // Two parts, one comparison each: BN helps in every period; GN helps in some but not every period.
  evidence.push({ what: 'periods where BN beats the unnormalized network', values: { BN: bnHelps, periods: k }, supports: bnHelps === k, beyondNoise: null });
  evidence.push({ what: 'periods where GN beats the unnormalized network', values: { GN: gnHelps, periods: k }, supports: gnHelps > 0 && gnHelps < k, beyondNoise: null });
  const where = (p: (boolean | null)[]) => p.map((h, i) => (h ? String(i + 1) : null)).filter(Boolean).join(', ') || 'none';
  const extra = ` BN helps in ${bnHelps} of ${k} periods (${where(bn)}); GN in ${gnHelps} of ${k} (${where(gn)}).`;
  return finding(id, 'GN', claim, evidence, extra);
}

/** Every finding, in the report's order. */
export function computeFindings(t: Tables): Finding[] {
  const out: Finding[] = [];
  out.push(finding('gn-less-stable', 'GN', 'GN trains less stably than BN', stabilityEvidence(t.stability, 'GN', 'BN')));

  const sens: Evidence[] = [];
  for (const g of t.sensitivity.filter((r) => r.norm === 'GN')) {
    const b = t.sensitivity.find((r) => r.norm === 'BN' && r.perturbation === g.perturbation);
    if (!b) continue;
    sens.push(compare(`accuracy change under ${g.perturbation}`, 'GN', g.deltaAccuracy.mean, 'BN', b.deltaAccuracy.mean, { higherIsWorse: false, noise: pooled(g.deltaAccuracy.std, b.deltaAccuracy.std) }));
  }
  out.push(finding('gn-more-sensitive', 'GN', 'GN is more sensitive to distortion than BN (it loses more accuracy against its clean run of the same seed)', sens));

  out.push(periodFinding(t.periods, 'paper'));
  out.push(periodFinding(t.periods, 'santurkar'));

  for (const h of hybridNorms(t)) {
    const ev: Evidence[] = [];
    for (const c of t.sweep.filter((r) => r.norm === h)) {
      const g = t.sweep.find((r) => r.norm === 'GN' && r.batchSize === c.batchSize);
      if (!g) continue;
      ev.push(compare(`best test accuracy at batch ${c.batchSize}`, 'GN', g.best.mean, h, c.best.mean, { higherIsWorse: false, noise: pooled(g.best.std, c.best.std) }));
    }
    out.push(finding(`${h}-beats-gn`, h, `${h} beats GN at every batch size`, ev));
    out.push(finding(`${h}-more-stable`, h, `${h} trains more stably than GN`, stabilityEvidence(t.stability, 'GN', h)));
  }
  return out;
}

/** GNPlus's batch-dependent eval in numbers: the accuracy change from the largest eval batch to each smaller one. */
export function evalBatchStatements(rows: readonly EvalBatchRow[]): string[] {
  const out: string[] = [];
  const groups = new Map<string, EvalBatchRow[]>();
  for (const r of rows) {
    const k = `${r.norm}\u0000${r.trainBatchSize}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const g of groups.values()) {
    const sorted = [...g].sort((a, b) => b.evalBatchSize - a.evalBatchSize);
    const ref = sorted[0];
    const parts = sorted.slice(1).map((r) => {
      const d = r.accuracy.mean - ref.accuracy.mean;
      return `${fmtPct(r.accuracy.mean)} at eval batch ${r.evalBatchSize} (${d >= 0 ? '+' : ''}${(100 * d).toFixed(2)} points)`;
    });
    out.push(`${ref.norm} trained at batch ${ref.trainBatchSize}: ${fmtPct(ref.accuracy.mean)} test accuracy at eval batch ${ref.evalBatchSize}${parts.length ? '; ' + parts.join('; ') : ''}.`);
  }
  return out;
}
