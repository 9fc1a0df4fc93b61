/** Line charts and histograms drawn on a canvas: all the page's figures, with no library. */
import type { GroupHistogram } from './protocol.js';

export interface Series {
  color: string;
  label: string;
  /** [x, y] pairs in increasing x. */
  points: Array<[number, number]>;
  /** A faint line behind (the raw values of a smoothed series). */
  faint?: Array<[number, number]>;
  /** Draw a dot at every point (sparse series such as evaluations). */
  dots?: boolean;
}

export interface LineChartOptions {
  xMax: number;
  yMin: number;
  yMax: number;
  xLabel: string;
  formatY: (v: number) => string;
  yTicks: number[];
}

const AXIS = '#6b7280';
const GRID = '#e5e7eb';
const FONT = '12px system-ui, sans-serif';

/** Size the canvas's pixels to its CSS box and the device's pixel ratio; returns a context in CSS pixels. */
function prepare(canvas: HTMLCanvasElement, cssHeight: number): { ctx: CanvasRenderingContext2D; w: number; h: number } {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 480;
  const h = cssHeight;
  canvas.style.height = `${h}px`;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = FONT;
  return { ctx, w, h };
}

export function drawLineChart(canvas: HTMLCanvasElement, series: Series[], o: LineChartOptions): void {
  const { ctx, w, h } = prepare(canvas, 220);
  const left = 48;
  const right = 12;
  const top = 10;
  const bottom = 34;
  const pw = w - left - right;
  const ph = h - top - bottom;
  const xMax = Math.max(1, o.xMax);
  const X = (x: number) => left + (x / xMax) * pw;
  const Y = (y: number) => top + (1 - (Math.min(Math.max(y, o.yMin), o.yMax) - o.yMin) / (o.yMax - o.yMin)) * ph;

  ctx.strokeStyle = GRID;
  ctx.fillStyle = AXIS;
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of o.yTicks) {
    ctx.beginPath();
    ctx.moveTo(left, Y(t));
    ctx.lineTo(left + pw, Y(t));
    ctx.stroke();
    ctx.fillText(o.formatY(t), left - 6, Y(t));
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(xMax, 6)) ctx.fillText(String(t), X(t), top + ph + 6);
  ctx.fillText(o.xLabel, left + pw / 2, top + ph + 20);
  ctx.strokeStyle = AXIS;
  ctx.strokeRect(left, top, pw, ph);

  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, pw, ph);
  ctx.clip();
  for (const s of series) {
    if (s.faint) polyline(ctx, s.faint, X, Y, s.color, 1, 0.18);
    polyline(ctx, s.points, X, Y, s.color, 2, 1);
    if (s.dots) {
      ctx.fillStyle = s.color;
      for (const [x, y] of s.points) {
        ctx.beginPath();
        ctx.arc(X(x), Y(y), 3, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
  ctx.restore();
}

function polyline(
  ctx: CanvasRenderingContext2D,
  pts: Array<[number, number]>,
  X: (x: number) => number,
  Y: (y: number) => number,
  color: string,
  width: number,
  alpha: number,
): void {
  if (pts.length === 0) return;
  ctx.globalAlpha = alpha;
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(X(x), Y(y)) : ctx.lineTo(X(x), Y(y))));
  ctx.stroke();
  ctx.globalAlpha = 1;
}

/** Round tick values from 0 to max, about `count` of them. */
export function niceTicks(max: number, count: number): number[] {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = 0; t <= max + 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export interface HistogramPanel {
  before: GroupHistogram[];
  after: GroupHistogram[];
  color: string;
  /** Groups drawn (the first ones). */
  shown: number;
}

const ROW = 52;

/** One row per group: the layer's input (grey) on the left, its output (the run's colour) on the right. */
export function drawHistograms(canvas: HTMLCanvasElement, p: HistogramPanel): void {
  const rows = Math.min(p.shown, p.before.length);
  const { ctx, w } = prepare(canvas, 24 + rows * ROW);
  const gap = 16;
  const label = 28;
  const cw = (w - label - gap) / 2;
  ctx.fillStyle = '#111827';
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillText('before the norm', label, 4);
  ctx.fillText('after the norm', label + cw + gap, 4);
  for (let g = 0; g < rows; g++) {
    const y0 = 24 + g * ROW;
    ctx.fillStyle = AXIS;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(`g${g + 1}`, 0, y0 + 18);
    bars(ctx, p.before[g]!, label, y0, cw, '#9ca3af');
    bars(ctx, p.after[g]!, label + cw + gap, y0, cw, p.color);
  }
}

function bars(ctx: CanvasRenderingContext2D, hst: GroupHistogram, x0: number, y0: number, width: number, color: string): void {
  const height = 32;
  const peak = Math.max(1, ...hst.counts);
  const bw = width / hst.counts.length;
  ctx.fillStyle = color;
  hst.counts.forEach((c, i) => {
    const bh = (c / peak) * height;
    ctx.fillRect(x0 + i * bw, y0 + height - bh, Math.max(1, bw - 1), bh);
  });
  // Where 0 falls, when it is in range.
  if (hst.lo < 0 && hst.hi > 0) {
    const zx = x0 + ((0 - hst.lo) / (hst.hi - hst.lo)) * width;
    ctx.strokeStyle = '#111827';
    ctx.globalAlpha = 0.35;
    ctx.beginPath();
    ctx.moveTo(zx, y0);
    ctx.lineTo(zx, y0 + height);
    ctx.stroke();
    ctx.globalAlpha = 1;
  }
  ctx.fillStyle = AXIS;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillText(fmt(hst.lo), x0, y0 + height + 2);
  ctx.textAlign = 'right';
  ctx.fillText(fmt(hst.hi), x0 + width, y0 + height + 2);
  ctx.textAlign = 'center';
  ctx.fillText(`μ ${fmt(hst.mean)}  σ ${fmt(hst.std)}`, x0 + width / 2, y0 + height + 2);
}

function fmt(v: number): string {
  if (Math.abs(v) >= 1000) return v.toExponential(1);
  const s = v.toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}
