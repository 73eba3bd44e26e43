// Charts drawn by the page as SVG: stacked bars (successes and failures per time bucket) and
// lines (latency percentiles). Colours come from the stylesheet (classes); a chart is drawn
// for the width of its box (``width``, in CSS pixels) so its text stays readable on a phone;
// every mark has a <title> with its figures.

import { svg, h, formatClock, formatCount, formatDuration } from "./dom.js";

const DEFAULT_WIDTH = 720;
const MIN_WIDTH = 280;
const PAD = { top: 10, right: 12, bottom: 24, left: 52 };

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least ``max``. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

function frame(width, height, label) {
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart",
    role: "img", "aria-label": label });
}

function plotWidth(width) {
  return Math.max(MIN_WIDTH, Math.round(width || DEFAULT_WIDTH));
}

function yAxis(chart, width, height, top, format) {
  const bottom = height - PAD.bottom;
  for (const fraction of [0, 0.5, 1]) {
    const y = bottom - (bottom - PAD.top) * fraction;
    chart.append(
      svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" },
        format(top * fraction)));
  }
}

function xAxis(chart, width, height, start, end, x) {
  const ticks = width < 480 ? 2 : 4;
  for (let i = 0; i <= ticks; i++) {
    const t = start + ((end - start) * i) / ticks;
    const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
    chart.append(svg("text", { x: x(t), y: height - 6, class: "axis", "text-anchor": anchor },
      formatClock(t)));
  }
}

function legend(series) {
  return h("div", { class: "legend" }, series.map((s) => h("span", { class: "legend-item" },
    h("span", { class: `swatch ${s.class}` }), s.label)));
}

/**
 * Stacked bars over time. ``buckets``: [{timestamp, values: [..]}] (one value a series),
 * ``start``/``end`` the range in ms, ``bucketMs`` the bar width in time.
 */
export function stackedBars({ buckets, series, start, end, bucketMs, width, height = 220,
  label = "chart", format = formatCount }) {
  width = plotWidth(width);
  const chart = frame(width, height, label);
  const totals = buckets.map((b) => b.values.reduce((a, v) => a + (v || 0), 0));
  const top = niceMax(Math.max(0, ...totals));
  const span = Math.max(1, end - start);
  const inner = width - PAD.left - PAD.right;
  const x = (t) => PAD.left + ((t - start) / span) * inner;
  const y = (v) => (height - PAD.bottom) - ((height - PAD.bottom - PAD.top) * v) / top;
  yAxis(chart, width, height, top, format);
  const barWidth = Math.max(1, (bucketMs / span) * inner - 1);
  buckets.forEach((bucket) => {
    let base = 0;
    const title = [formatClock(bucket.timestamp), ...series.map((s, i) =>
      `${s.label}: ${format(bucket.values[i] || 0)}`)].join(" · ");
    bucket.values.forEach((value, i) => {
      if (!value) return;
      const y0 = y(base);
      const y1 = y(base + value);
      base += value;
      chart.append(svg("rect", { x: x(bucket.timestamp), y: y1, width: barWidth,
        height: Math.max(0.5, y0 - y1), class: `bar ${series[i].class}` },
      svg("title", {}, title)));
    });
  });
  xAxis(chart, width, height, start, end, x);
  return h("figure", { class: "chart-figure" }, chart, legend(series));
}

/**
 * Lines over time with gaps where a bucket has no value. ``points``: [{timestamp,
 * values: [..]}], one value a series (null for none).
 */
export function lines({ points, series, start, end, width, height = 220, label = "chart",
  format = formatDuration }) {
  width = plotWidth(width);
  const chart = frame(width, height, label);
  const all = points.flatMap((p) => p.values.filter((v) => v !== null && v !== undefined));
  const top = niceMax(Math.max(0, ...all));
  const span = Math.max(1, end - start);
  const x = (t) => PAD.left + ((t - start) / span) * (width - PAD.left - PAD.right);
  const y = (v) => (height - PAD.bottom) - ((height - PAD.bottom - PAD.top) * v) / top;
  yAxis(chart, width, height, top, format);
  series.forEach((s, i) => {
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        chart.append(svg("polyline", { points: run.join(" "), class: `line ${s.class}` }));
      }
      run = [];
    };
    for (const point of points) {
      const value = point.values[i];
      if (value === null || value === undefined) {
        flush();
        continue;
      }
      const px = x(point.timestamp);
      const py = y(value);
      run.push(`${px.toFixed(1)},${py.toFixed(1)}`);
      chart.append(svg("circle", { cx: px, cy: py, r: 2.5, class: `point ${s.class}` },
        svg("title", {}, `${formatClock(point.timestamp)} · ${s.label}: ${format(value)}`)));
    }
    flush();
  });
  xAxis(chart, width, height, start, end, x);
  return h("figure", { class: "chart-figure" }, chart, legend(series));
}
