/**
 * A selection of a profile's plan: the runs of some roles, norms, sweep batch sizes and seeds,
 * optionally with another number of epochs — the part of a profile a machine has time for,
 * stated exactly. The profile is planned as always (`planRuns`, after the epochs override) and
 * the plan is filtered; nothing else about the runs changes, so a selected run is the very run
 * the whole profile would train (same spec, same id) unless the epochs are overridden.
 *
 * Each filter is checked against what the profile's plan has: a norm, batch size, seed or role
 * it does not have is an `AnalysisError` that lists what it offers.
 */
import { AnalysisError } from './errors.js';
import { planRuns, type NormVariant, type PlannedRun, type Profile } from './profiles.js';
import { GNPlusOrderSchema, NormNameSchema, RunRoleSchema, SelectionSchema, type GNPlusOrder, type NormName, type RunSpec, type Selection } from './types.js';

const OP = 'selectRuns';

/**
 * A norm variant as a selection spells it: the norm's name (`bn`, `hybrid`, `none`), and GN+ with
 * its order, `gnplus:gn-first`, `gnplus:bn-first`, `gnplus:parallel`.
 */
export function variantName(v: Pick<RunSpec, 'norm' | 'order'>): string {
  return v.norm === 'gnplus' ? `gnplus:${v.order ?? 'gn-first'}` : v.norm;
}

/**
 * Read a variant's spelling (`variantName`'s, in any case). A bare `gnplus` is GN+ in its
 * default order, gn-first, as everywhere in normlab (`normlab train --norm gnplus`, the run id
 * `…-gnplus-…`, the report's `GNPlus`).
 */
export function parseVariant(text: string): NormVariant {
  const [name, order, ...rest] = text.trim().toLowerCase().split(':');
  const norms = NormNameSchema.options;
  const orders = GNPlusOrderSchema.options;
  const expected = `expected one of ${norms.join(', ')}, with GN+'s order as ${orders.map((o) => `gnplus:${o}`).join(', ')} (gnplus alone is gnplus:gn-first)`;
  if (!norms.includes(name as NormName) || rest.length) throw new AnalysisError(OP, `norms: ${JSON.stringify(text)} is not a norm; ${expected}`);
  if (order === undefined) return name === 'gnplus' ? { norm: 'gnplus', order: 'gn-first' } : { norm: name as NormName };
  if (name !== 'gnplus' || !orders.includes(order as GNPlusOrder)) throw new AnalysisError(OP, `norms: ${JSON.stringify(text)} is not a norm; ${expected}`);
  return { norm: 'gnplus', order: order as GNPlusOrder };
}

/** The profile with every setup (sweep, analysis and its window runs, landscape) trained for `epochs` epochs. */
export function withEpochs(profile: Profile, epochs: number): Profile {
  if (!Number.isSafeInteger(epochs) || epochs < 1) throw new AnalysisError(OP, `epochs must be an integer >= 1, got ${String(epochs)}`);
  return { ...profile, sweep: { ...profile.sweep, epochs }, analysis: { ...profile.analysis, epochs }, landscape: { ...profile.landscape, epochs } };
}

/** Variants in a fixed order: the norms as `NormNameSchema` lists them, GN+'s orders as `GNPlusOrderSchema` does. */
function compareVariants(a: string, b: string): number {
  const rank = (s: string) => {
    const v = parseVariant(s);
    return NormNameSchema.options.indexOf(v.norm) * 10 + (v.order ? GNPlusOrderSchema.options.indexOf(v.order) : 0);
  };
  return rank(a) - rank(b);
}

/** `0-4`, `0-2,5`: integers as a list with consecutive runs as ranges (`--seeds` reads it back). */
export function formatIntList(xs: readonly number[]): string {
  const sorted = [...new Set(xs)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j > i + 1 ? `${sorted[i]}-${sorted[j]}` : sorted.slice(i, j + 1).join(','));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The selection as `normlab reproduce` flags, in canonical order:
 * `--roles sweep --norms bn,gnplus:gn-first --batch-sizes 2,8 --seeds 0-4 --epochs 3`.
 */
export function selectionFlags(selection: Selection): string {
  const parts: string[] = [];
  if (selection.roles) parts.push(`--roles ${selection.roles.join(',')}`);
  if (selection.norms) parts.push(`--norms ${selection.norms.join(',')}`);
  if (selection.batchSizes) parts.push(`--batch-sizes ${selection.batchSizes.join(',')}`);
  if (selection.seeds) parts.push(`--seeds ${formatIntList(selection.seeds)}`);
  if (selection.epochs !== undefined) parts.push(`--epochs ${selection.epochs}`);
  return parts.join(' ');
}

/** What a plan offers a selection: its roles, norm variants, sweep batch sizes and seeds, each in canonical order. */
export function planOfferings(runs: readonly PlannedRun[]): Required<Omit<Selection, 'epochs'>> {
  const roles = new Set(runs.flatMap((r) => r.roles));
  return {
    roles: RunRoleSchema.options.filter((r) => roles.has(r)),
    norms: [...new Set(runs.map((r) => variantName(r.spec)))].sort(compareVariants),
    batchSizes: [...new Set(runs.filter((r) => r.roles.includes('sweep')).map((r) => r.spec.batchSize))].sort((a, b) => a - b),
    seeds: [...new Set(runs.map((r) => r.spec.seed))].sort((a, b) => a - b),
  };
}

/** The selection checked against the profile's plan and put in canonical form (each list deduplicated and ordered); undefined when it selects nothing out. */
function canonicalSelection(profile: Profile, runs: readonly PlannedRun[], selection: Selection): Selection | undefined {
  const checked = SelectionSchema.safeParse(selection);
  if (!checked.success) {
    const i = checked.error.issues[0]!;
    throw new AnalysisError(OP, `${i.path.join('.') || 'selection'}: ${i.message}; expected {roles?, norms?, batchSizes?, seeds?, epochs?}, each list non-empty`);
  }
  const s = checked.data;
  const has = planOfferings(runs);
  const what = `the ${profile.name} profile on ${profile.dataset}`;
  const out: Selection = {};
  if (s.roles) {
    for (const r of s.roles) {
      if (!has.roles.includes(r)) {
        const off = r === 'window' && !profile.window?.enabled ? ' (its window ablation is off)' : '';
        throw new AnalysisError(OP, `roles: ${what} has no ${r} runs${off}; it has ${has.roles.join(', ')}`);
      }
    }
    out.roles = RunRoleSchema.options.filter((r) => s.roles!.includes(r));
  }
  if (s.norms) {
    const names = [...new Set(s.norms.map((n) => variantName(parseVariant(n))))];
    for (const n of names) if (!has.norms.includes(n)) throw new AnalysisError(OP, `norms: ${what} has no ${n} runs; it has ${has.norms.join(', ')}`);
    out.norms = names.sort(compareVariants);
  }
  if (s.batchSizes) {
    if (out.roles && !out.roles.includes('sweep')) throw new AnalysisError(OP, `batchSizes: the batch sizes select among the sweep's runs, and the selected roles (${out.roles.join(', ')}) leave out the sweep`);
    for (const b of s.batchSizes) if (!has.batchSizes.includes(b)) throw new AnalysisError(OP, `batchSizes: the sweep of ${what} has no batch size ${b}; it has ${has.batchSizes.join(', ') || 'none'}`);
    out.batchSizes = [...new Set(s.batchSizes)].sort((a, b) => a - b);
  }
  if (s.seeds) {
    for (const x of s.seeds) if (!has.seeds.includes(x)) throw new AnalysisError(OP, `seeds: ${what} has no runs of seed ${x}; its seeds are ${formatIntList(has.seeds)}`);
    out.seeds = [...new Set(s.seeds)].sort((a, b) => a - b);
  }
  if (s.epochs !== undefined) out.epochs = s.epochs;
  return Object.keys(out).length ? out : undefined;
}

/** What `selectRuns` selected. */
export interface SelectedRuns {
  /** The selection in canonical form (filters sorted and deduplicated); undefined: the whole profile. */
  selection: Selection | undefined;
  /** The selected runs, in plan order, their roles cut to the selected ones. */
  runs: PlannedRun[];
}

/**
 * The runs of a selection of the profile's plan, in plan order, and the selection in canonical
 * form (undefined: the whole profile). A run is kept when its norm variant and seed are
 * selected and it keeps a role: its roles are cut to the selected ones, and the sweep role only
 * at a selected batch size (`batchSizes` leaves the other roles, each at its one batch size,
 * alone). With `epochs`, the profile is planned with that many epochs in every setup first.
 */
export function selectRuns(profile: Profile, selection: Selection = {}): SelectedRuns {
  const planned = selection.epochs === undefined ? profile : withEpochs(profile, selection.epochs);
  const runs = planRuns(planned);
  const s = canonicalSelection(profile, runs, selection);
  if (!s) return { selection: undefined, runs };
  const kept = runs.flatMap((run): PlannedRun[] => {
    if (s.norms && !s.norms.includes(variantName(run.spec))) return [];
    if (s.seeds && !s.seeds.includes(run.spec.seed)) return [];
    const roles = run.roles.filter((r) => (!s.roles || s.roles.includes(r)) && (r !== 'sweep' || !s.batchSizes || s.batchSizes.includes(run.spec.batchSize)));
    return roles.length ? [{ ...run, roles }] : [];
  });
  if (!kept.length) {
    const byRole = RunRoleSchema.options.flatMap((r) => {
      const of = runs.filter((x) => x.roles.includes(r));
      return of.length ? [`${r} runs of ${planOfferings(of).norms.join(', ')}`] : [];
    });
    throw new AnalysisError(OP, `the selection ${selectionFlags(s)} leaves no run of the ${profile.name} profile on ${profile.dataset}; it has ${byRole.join('; ')}`);
  }
  return { selection: s, runs: kept };
}
