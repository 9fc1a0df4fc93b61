/**
 * The paper's claims, each judged from the tables of these runs. Every sentence here is built from
 * numbers; nothing in a finding is written by hand.
 *
 * A claim is tested on a family of cells (a batch size, a stability metric, a perturbation). Each
 * cell pairs the runs of the two norms by seed — the same seed gives the same initial weights of
 * the shared layers and the same data order — and takes the mean of the per-seed differences
 * a − b with its Student-t interval. The intervals of one claim hold together at 95%: with m cells
 * each is a 1 − 0.05/m interval (Bonferroni). A cell is *for* the claim when its interval lies on
 * the side of zero the claim predicts, *against* when it lies on the other side, *not
 * distinguishable* when it contains zero, and *insufficient data* with fewer than two paired seeds.
 * The verdict follows from the cells (`verdictFromOutcomes`).
 */
import { intervalOrNull, pairBySeed, type EvalBatchRow, type PeriodMetric, type PeriodRow, type Protocol, type SeedValue, type SensitivityRow, type StabilityRow, type SweepCell } from './aggregate.js';
import { mean, type MeanInterval } from './stats.js';

/** Every verdict a finding can carry, from strongest support to no evidence. */
export const VERDICTS = ['supported', 'partly supported', 'mixed', 'contradicted', 'not distinguishable at this scale', 'insufficient data'] as const;
/** How a finding's cells, taken together, bear on its claim (`VERDICT_RULE`). */
export type Verdict = (typeof VERDICTS)[number];

/** What one cell says about its claim. */
export type Outcome = 'for' | 'against' | 'not distinguishable' | 'insufficient data';

/** The confidence with which a claim's intervals hold together (family-wise). */
export const FAMILY_LEVEL = 0.95;

/** The rule, as the report states it. */
export const VERDICT_RULE =
  'supported: every cell with data is for the claim; partly supported: some cells for, none against, the rest not distinguishable; mixed: cells on both sides; contradicted: some cells against, none for; not distinguishable at this scale: every interval contains zero; insufficient data: no cell has two paired seeds';

/** One cell of a finding: a paired-by-seed difference `a − b` and what it says about the claim. */
export interface Evidence {
  /** What is compared, e.g. `best test accuracy at batch 8`. */
  what: string;
  /** The difference is `a − b`; `a` is the claim's subject. */
  a: string;
  /** The other arm of the comparison. */
  b: string;
  /** Means over the paired seeds, `a` then `b` (empty when no seed is paired). */
  values: Record<string, number>;
  /**
   * The side of zero the claim predicts for `a − b`. In a finding judged on parts (the period
   * claim) every cell asks whether the norm is lower than `none` (`negative`): `for` reads
   * "helps on this metric", `against` "hurts", and the parts interpret the pattern.
   */
  claimed: 'positive' | 'negative';
  /** `accuracy`: fractions shown as percentage points; `value`: plain numbers. */
  kind: 'accuracy' | 'value';
  /** The seeds both arms have, and `a − b` for each. */
  seeds: number[];
  /** `a − b` for each seed of `seeds`, in that order. */
  differences: number[];
  /** The mean paired difference with its Student-t interval at the finding's per-cell level; null below two seeds. */
  interval: MeanInterval | null;
  /** Which side of zero the interval lies on, against the claimed side. */
  outcome: Outcome;
}

/** One of the paper's claims, checked against the records: its cells and its verdict. */
export interface Finding {
  /** Stable identifier of the claim (`gn-less-stable`, `gn-more-sensitive`, …). */
  id: string;
  /** The norm the claim is about (`GN`, `GNPlus`, …). */
  subject: string;
  /** The claim in words, as the report states it. */
  claim: string;
  /** What the cells say about the claim, together. */
  verdict: Verdict;
  /** One sentence for the report: the verdict and the tally of the cells (or what data is missing). */
  summary: string;
  /** The cells, each a paired difference with its interval. */
  evidence: Evidence[];
  /** Level of each cell's interval (1 − 0.05/m over the m cells with intervals); null when no cell has one. */
  level: number | null;
  /** Paired seeds per cell, fewest and most (0 when there are no cells). */
  seeds: {
    /** Fewest paired seeds of a cell. */
    min: number;
    /** Most paired seeds of a cell. */
    max: number;
  };
  /**
   * Claims judged on derived parts rather than directly on cells (the period claim: "BN helps in
   * every period", "GN helps in some period, not all"): each part's outcome. The verdict follows
   * from the parts then.
   */
  parts?: Array<{
    /** The part of the claim, in words. */
    what: string;
    /** What the cells say about that part. */
    outcome: Outcome;
  }>;
}

/** The verdict from the cells' outcomes (`VERDICT_RULE`). */
export function verdictFromOutcomes(outcomes: readonly Outcome[]): Verdict {
  const judged = outcomes.filter((o) => o !== 'insufficient data');
  if (judged.length === 0) return 'insufficient data';
  const pro = judged.filter((o) => o === 'for').length;
  const con = judged.filter((o) => o === 'against').length;
  if (pro === judged.length) return 'supported';
  if (pro && con) return 'mixed';
  if (con) return 'contradicted';
  if (pro) return 'partly supported';
  return 'not distinguishable at this scale';
}

/** The verdict of a finding's evidence (or of its parts, when it has them). */
export function verdictOf(evidence: ReadonlyArray<{ outcome: Outcome }>): Verdict {
  return verdictFromOutcomes(evidence.map((e) => e.outcome));
}

/** Where an interval lies relative to zero, for a claim that predicts `claimed`. */
export function outcomeOf(interval: MeanInterval | null, claimed: 'positive' | 'negative'): Outcome {
  if (!interval) return 'insufficient data';
  const side = interval.lo > 0 ? 'positive' : interval.hi < 0 ? 'negative' : null;
  if (side === null) return 'not distinguishable';
  return side === claimed ? 'for' : 'against';
}

/** One cell of a claim before it is judged: two arms of per-seed values. */
interface Cell {
  what: string;
  a: { name: string; values: readonly SeedValue[] };
  b: { name: string; values: readonly SeedValue[] };
  claimed: 'positive' | 'negative';
  kind: 'accuracy' | 'value';
}

/** Pair every cell by seed and give each the Bonferroni interval of the family. */
function judge(cells: readonly Cell[]): { evidence: Evidence[]; level: number | null } {
  const paired = cells.map((c) => ({ c, p: pairBySeed(c.a.values, c.b.values, `${c.a.name} − ${c.b.name}, ${c.what}`) }));
  const m = paired.filter(({ p }) => p.seeds.length >= 2).length;
  const level = m ? 1 - (1 - FAMILY_LEVEL) / m : null;
  const evidence = paired.map(({ c, p }) => {
    const interval = level === null ? null : intervalOrNull(p.differences, level);
    return {
      what: c.what,
      a: c.a.name,
      b: c.b.name,
      values: p.seeds.length ? { [c.a.name]: mean(p.a), [c.b.name]: mean(p.b) } : {},
      claimed: c.claimed,
      kind: c.kind,
      seeds: p.seeds,
      differences: p.differences,
      interval,
      outcome: outcomeOf(interval, c.claimed),
    };
  });
  return { evidence, level };
}

/** A number for tables: integers as they are, others to about 3 significant digits (exponential when very large or small). */
export function fmtNum(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const a = Math.abs(x);
  if (a >= 1000 || a < 1e-3) return x.toExponential(2);
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(3);
  return x.toPrecision(3);
}

/** A fraction as a percentage with 2 decimals: `0.9123` → `91.23%`. */
export function fmtPct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** A signed difference: accuracy in percentage points (2 decimals), anything else as `fmtNum`. */
export function fmtDiff(x: number, kind: 'accuracy' | 'value'): string {
  const s = kind === 'accuracy' ? (100 * x).toFixed(2) : fmtNum(x);
  return x > 0 ? `+${s}` : x === 0 ? s.replace(/^-/, '') : s;
}

/** A confidence level as a percentage with the digits that matter: 95%, 98.33%, 99.81%. */
export function fmtLevel(level: number): string {
  // Rounded down (a hair above, for float error), so a level just under 100% never prints as 100.
  const hundredths = Math.floor(100 * 100 * level + 1e-6);
  return `${hundredths % 100 === 0 ? String(hundredths / 100) : (hundredths / 100).toFixed(2)}%`;
}

/** `+0.15 [-0.80, +1.10]`: a mean difference and its interval; `+0.15 (1 seed, no interval)` without one. */
export function fmtInterval(mean: number, interval: MeanInterval | null, kind: 'accuracy' | 'value', n = interval?.n ?? 0): string {
  if (!interval) return `${fmtDiff(mean, kind)} (${n} seed${n === 1 ? '' : 's'}, no interval)`;
  return `${fmtDiff(interval.mean, kind)} [${fmtDiff(interval.lo, kind)}, ${fmtDiff(interval.hi, kind)}]`;
}

function seedRange(evidence: readonly Evidence[]): { min: number; max: number } {
  if (!evidence.length) return { min: 0, max: 0 };
  const ns = evidence.map((e) => e.seeds.length);
  return { min: Math.min(...ns), max: Math.max(...ns) };
}

/** `5`, or `2–5` when cells differ in their paired seeds. */
export function fmtSeeds(s: { min: number; max: number }): string {
  return s.min === s.max ? String(s.min) : `${s.min}–${s.max}`;
}

function tally(evidence: readonly Evidence[], level: number | null): string {
  const count = (o: Outcome) => evidence.filter((e) => e.outcome === o).length;
  const m = evidence.length - count('insufficient data');
  let s = `${count('for')} of ${evidence.length} cells for the claim, ${count('against')} against, ${count('not distinguishable')} not distinguishable`;
  if (count('insufficient data')) s += `, ${count('insufficient data')} without two paired seeds`;
  const range = seedRange(evidence);
  s += `; ${fmtSeeds(range)} paired seed${range.max === 1 ? '' : 's'} per cell`;
  if (level !== null) s += `; paired Student-t intervals, ${fmtLevel(FAMILY_LEVEL)} family-wise${m > 1 ? ` (Bonferroni over ${m} cells: ${fmtLevel(level)} each)` : ''}`;
  return s;
}

/** A finding from its cells; `absent` says why there are none (which runs it compares are not among the records). */
function finding(id: string, subject: string, claim: string, cells: readonly Cell[], absent: string): Finding {
  const { evidence, level } = judge(cells);
  const verdict = verdictOf(evidence);
  const summary = evidence.length ? `${verdict[0].toUpperCase()}${verdict.slice(1)}: ${tally(evidence, level)}.` : `Insufficient data: ${absent}.`;
  return { id, subject, claim, verdict, summary, evidence, level, seeds: seedRange(evidence) };
}

/**
 * Why a comparison of `norms` in a table has no cells: `no stability runs in this selection`,
 * `no sweep runs of GN in this selection`, or that their runs share no `common` (batch size,
 * perturbation).
 */
function absentRuns(role: string, rows: ReadonlyArray<{ norm: string }>, norms: readonly string[], common: string, scope: string): string {
  if (!rows.length) return `no ${role} runs ${scope}`;
  const missing = norms.filter((n) => !rows.some((r) => r.norm === n)).map((n) => (n === 'none' ? 'the unnormalized network (none)' : n));
  if (missing.length) return `no ${role} runs of ${missing.join(' or ')} ${scope}`;
  return `the ${role} runs of ${norms.join(' and ')} ${scope} share no ${common}`;
}

/** The aggregated tables the findings are judged on. */
export interface Tables {
  /** The batch-size sweep (`sweepTable`). */
  sweep: SweepCell[];
  /** Within-run stability per norm and batch size (`stabilityTable`). */
  stability: StabilityRow[];
  /** Accuracy change under each distortion and regularizer (`sensitivityTable`). */
  sensitivity: SensitivityRow[];
  /** Landscape metrics per norm and period (`periodTable`). */
  periods: PeriodRow[];
  /** Accuracy at each eval batch size (`evalBatchTable`). */
  evalBatch: EvalBatchRow[];
}

/** The hybrid layers judged with the paper's GN+ claims: GNPlus in each order and HybridNorm. */
export function hybridNorms(t: Tables): string[] {
  const names = new Set<string>();
  for (const r of [...t.sweep, ...t.stability]) if (r.norm.startsWith('GNPlus') || r.norm === 'HybridNorm') names.add(r.norm);
  return [...names].sort((a, b) => (a === 'HybridNorm' ? 1 : b === 'HybridNorm' ? -1 : a < b ? -1 : 1));
}

const STABILITY_METRICS = [
  ['lossStd', 'training-loss std around its moving average'],
  ['spikes', 'loss spikes per run'],
  ['gradNormVar', 'gradient-norm variance'],
] as const;

/** Stability cells: `subject − other` of each within-run metric at each batch size both have (higher = less stable). */
function stabilityCells(rows: readonly StabilityRow[], subject: string, other: string, claimed: 'positive' | 'negative'): Cell[] {
  const out: Cell[] = [];
  for (const s of rows.filter((r) => r.norm === subject)) {
    const o = rows.find((r) => r.norm === other && r.batchSize === s.batchSize);
    if (!o) continue;
    for (const [field, label] of STABILITY_METRICS) {
      const arm = (r: StabilityRow) => r.perSeed.map((p) => ({ seed: p.seed, value: p[field] }));
      out.push({ what: `${label} (batch ${s.batchSize})`, a: { name: subject, values: arm(s) }, b: { name: other, values: arm(o) }, claimed, kind: 'value' });
    }
  }
  return out;
}

const METRIC_LABELS: Record<PeriodMetric, string> = {
  bandWidth: 'loss band width',
  gradPredictiveness: 'gradient predictiveness',
  betaSmoothness: 'effective β-smoothness',
  lossVariation: 'loss variation',
  santurkarGradPredictiveness: 'gradient predictiveness',
  santurkarBetaSmoothness: 'effective β-smoothness',
};

function periodFinding(rows: readonly PeriodRow[], protocol: Protocol, scope: string): Finding {
  const name = protocol === 'paper' ? "the paper's protocol" : "Santurkar et al.'s protocol";
  const id = `gn-helps-in-a-period-${protocol}`;
  const claim = `GN helps optimization only in some period of training, BN throughout (${name})`;
  const of = (norm: string) => rows.filter((r) => r.norm === norm);
  const bn = of('BN');
  const gn = of('GN');
  const base = { id, subject: 'GN', claim };
  const hasNone = rows.some((r) => r.norm === 'none');
  if (!bn.length || !gn.length || !hasNone) {
    const absent = absentRuns('landscape', rows, ['BN', 'GN', 'none'], 'period', scope);
    return { ...base, verdict: 'insufficient data', summary: `Insufficient data: ${absent}; the claim compares BN's and GN's landscapes with the unnormalized network's.`, evidence: [], level: null, seeds: { min: 0, max: 0 } };
  }
  const k = bn.length;
  // The cells: each metric of each period, norm − none paired by seed, as the landscape table decided them.
  const evidence: Evidence[] = [];
  for (const r of [...bn, ...gn]) {
    for (const c of r[protocol]!.comparisons) {
      evidence.push({
        what: `${METRIC_LABELS[c.metric]} in period ${r.period}`,
        a: r.norm,
        b: 'none',
        values: c.seeds.length ? { [r.norm]: mean(c.a), none: mean(c.b) } : {},
        claimed: 'negative',
        kind: 'value',
        seeds: c.seeds,
        differences: c.differences,
        interval: c.interval,
        outcome: outcomeOf(c.interval, 'negative'),
      });
    }
  }
  const outcomes = (rs: PeriodRow[]) => rs.map((r) => r[protocol]!.outcome);
  const where = (rs: PeriodRow[], o: string) => rs.filter((r) => r[protocol]!.outcome === o).map((r) => r.period);
  const list = (ps: number[]) => (ps.length ? ps.join(', ') : 'none');
  const bnO = outcomes(bn);
  const gnO = outcomes(gn);
  const bnPart: Outcome = bnO.includes('insufficient data') ? 'insufficient data' : bnO.every((o) => o === 'helps') ? 'for' : bnO.includes('hurts') ? 'against' : 'not distinguishable';
  const gnHelps = gnO.filter((o) => o === 'helps').length;
  const gnHurts = gnO.filter((o) => o === 'hurts').length;
  const gnPart: Outcome = gnO.includes('insufficient data') ? 'insufficient data' : gnHelps > 0 && gnHurts > 0 ? 'for' : gnHelps === k || gnHurts === k ? 'against' : 'not distinguishable';
  const parts = [
    { what: `BN helps in every period (helps in: ${list(where(bn, 'helps'))}; hurts in: ${list(where(bn, 'hurts'))} of ${k})`, outcome: bnPart },
    { what: `GN helps in some period and hurts in another (helps in: ${list(where(gn, 'helps'))}; hurts in: ${list(where(gn, 'hurts'))} of ${k})`, outcome: gnPart },
  ];
  const verdict = verdictOf(parts);
  const level = evidence.find((e) => e.interval)?.interval!.level ?? null;
  const seeds = seedRange(evidence);
  // What the seed means say, as before intervals: the only reading one seed allows.
  const pointWhere = (rs: PeriodRow[]) => list(rs.filter((r) => (protocol === 'paper' ? r.helpsPaper : r.helpsSanturkar)).map((r) => r.period));
  const point = ` On the seed means, BN beats the unnormalized network in periods ${pointWhere(bn)} of ${k}, GN in ${pointWhere(gn)}.`;
  const rule = ` A norm helps in a period when at least two of the protocol's three metrics are lower than the unnormalized network's with intervals below zero (hurts: two above zero).`;
  const summary =
    verdict === 'insufficient data'
      ? `Insufficient data: the landscape runs have ${fmtSeeds(seeds)} seed${seeds.max === 1 ? '' : 's'} (or a period has no probe); an interval needs two seeds paired with the unnormalized network.${point}`
      : `${verdict[0].toUpperCase()}${verdict.slice(1)}: BN's part is ${bnPart}, GN's part is ${gnPart}; ${fmtSeeds(seeds)} paired seed${seeds.max === 1 ? '' : 's'} per cell; paired Student-t intervals, ${fmtLevel(FAMILY_LEVEL)} family-wise over the protocol's ${level === null ? 0 : Math.round((1 - FAMILY_LEVEL) / (1 - level))} comparisons in the landscape table (Bonferroni: ${level === null ? '—' : fmtLevel(level)} each).${rule}${point}`;
  return { ...base, verdict, summary, evidence, level, seeds, parts };
}

/**
 * Every finding, in the report's order. `scope` ends the reason a finding without runs gives
 * (`no stability runs in this selection`): where the runs were looked for.
 */
export function computeFindings(t: Tables, scope = 'in these records'): Finding[] {
  const out: Finding[] = [];
  out.push(finding('gn-less-stable', 'GN', 'GN trains less stably than BN', stabilityCells(t.stability, 'GN', 'BN', 'positive'), absentRuns('stability', t.stability, ['GN', 'BN'], 'batch size', scope)));

  const sens: Cell[] = [];
  for (const g of t.sensitivity.filter((r) => r.norm === 'GN')) {
    const b = t.sensitivity.find((r) => r.norm === 'BN' && r.perturbation === g.perturbation);
    if (!b) continue;
    const arm = (r: SensitivityRow) => r.perSeed.map((p) => ({ seed: p.seed, value: p.deltaAccuracy }));
    sens.push({ what: `accuracy change under ${g.perturbation}`, a: { name: 'GN', values: arm(g) }, b: { name: 'BN', values: arm(b) }, claimed: 'negative', kind: 'accuracy' });
  }
  out.push(finding('gn-more-sensitive', 'GN', 'GN is more sensitive to distortion than BN (it loses more accuracy against its clean run of the same seed)', sens, absentRuns('sensitivity', t.sensitivity, ['GN', 'BN'], 'perturbation', scope)));

  out.push(periodFinding(t.periods, 'paper', scope));
  out.push(periodFinding(t.periods, 'santurkar', scope));

  for (const h of hybridNorms(t)) {
    const cells: Cell[] = [];
    for (const c of t.sweep.filter((r) => r.norm === h)) {
      const g = t.sweep.find((r) => r.norm === 'GN' && r.batchSize === c.batchSize);
      if (!g) continue;
      const arm = (r: SweepCell) => r.perSeed.map((p) => ({ seed: p.seed, value: p.best }));
      cells.push({ what: `best test accuracy at batch ${c.batchSize}`, a: { name: h, values: arm(c) }, b: { name: 'GN', values: arm(g) }, claimed: 'positive', kind: 'accuracy' });
    }
    out.push(finding(`${h}-beats-gn`, h, `${h} beats GN at every batch size`, cells, absentRuns('sweep', t.sweep, [h, 'GN'], 'batch size', scope)));
    out.push(finding(`${h}-more-stable`, h, `${h} trains more stably than GN`, stabilityCells(t.stability, h, 'GN', 'negative'), absentRuns('stability', t.stability, [h, 'GN'], 'batch size', scope)));
  }
  return out;
}

/**
 * GNPlus's batch-dependent eval in numbers: the accuracy change from the largest eval batch to
 * each smaller one, paired by run (the same trained network evaluated twice), with a 95% interval
 * per comparison when there are two seeds or more.
 */
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
      const p = pairBySeed(r.perSeed, ref.perSeed, `${r.norm} eval batch ${r.evalBatchSize} − ${ref.evalBatchSize}`);
      const d = p.differences.length ? mean(p.differences) : r.accuracy.mean - ref.accuracy.mean;
      return `${fmtPct(r.accuracy.mean)} at eval batch ${r.evalBatchSize} (${fmtInterval(d, intervalOrNull(p.differences), 'accuracy', p.seeds.length)} points)`;
    });
    const n = ref.perSeed.length;
    out.push(`${ref.norm} trained at batch ${ref.trainBatchSize}: ${fmtPct(ref.accuracy.mean)} test accuracy at eval batch ${ref.evalBatchSize}${parts.length ? '; ' + parts.join('; ') : ''} (${n} seed${n === 1 ? '' : 's'}; change against eval batch ${ref.evalBatchSize}, same runs, 95% interval).`);
  }
  return out;
}
