// Self-contained HTML energy report: tables plus inline SVG plots (current over
// the first virtual day, log scale; charge by state). No scripts, no CDN.
import { REPORT_STATES, formatReport, type EnergyReportResult } from "./index.ts";

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
const COLORS = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#b279a2"];

function dayPlot(r: EnergyReportResult): string {
  const W = 900, H = 260, L = 60, B = 30;
  const lo = 0.001, hi = 300; // mA, log scale
  const y = (ma: number) => H - B - ((Math.log10(Math.max(lo, Math.min(hi, ma))) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (H - B - 10);
  const x = (ms: number) => L + (ms / 86_400_000) * (W - L - 10);
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11">`;
  for (const t of [0.001, 0.01, 0.1, 1, 10, 100]) svg += `<line x1="${L}" x2="${W - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/><text x="4" y="${y(t) + 4}">${t} mA</text>`;
  for (let h = 0; h <= 24; h += 3) svg += `<text x="${x(h * 3_600_000) - 8}" y="${H - 8}">${h}h</text>`;
  // Drawn last-first, so the first run (batched) stays visible on top of the naive one.
  [...r.runs.entries()].reverse().forEach(([i, run]) => {
    let d = "";
    for (let k = 0; k < run.day.length; k++) {
      const [t, ma] = run.day[k];
      const next = k + 1 < run.day.length ? run.day[k + 1][0] : Math.min(86_400_000, t + 1000);
      d += `${k ? "L" : "M"}${x(t).toFixed(1)},${y(ma).toFixed(1)}L${x(next).toFixed(1)},${y(ma).toFixed(1)}`;
    }
    svg += `<path d="${d}" fill="none" stroke="${COLORS[i]}" stroke-width="${i === 0 ? 1.5 : 1}"/><text x="${L + 10 + i * 120}" y="14" fill="${COLORS[i]}">${esc(run.mode)}</text>`;
  });
  return svg + "</svg>";
}

function statePlot(r: EnergyReportResult): string {
  const W = 900, rowH = 34, L = 90;
  const max = Math.max(...r.runs.map((x) => x.totalMah));
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${r.runs.length * rowH + 40}" font-size="11">`;
  r.runs.forEach((run, i) => {
    let at = L;
    svg += `<text x="4" y="${i * rowH + 20}">${esc(run.mode)}</text>`;
    REPORT_STATES.forEach((s, k) => {
      const w = (run.mah[s] / max) * (W - L - 10);
      if (w > 0) svg += `<rect x="${at.toFixed(1)}" y="${i * rowH + 6}" width="${w.toFixed(1)}" height="${rowH - 10}" fill="${COLORS[k]}"><title>${s}: ${run.mah[s].toFixed(3)} mAh</title></rect>`;
      at += w;
    });
  });
  REPORT_STATES.forEach((s, k) => (svg += `<rect x="${L + k * 130}" y="${r.runs.length * rowH + 12}" width="10" height="10" fill="${COLORS[k]}"/><text x="${L + k * 130 + 14}" y="${r.runs.length * rowH + 21}">${s}</text>`));
  return svg + "</svg>";
}

export function renderHtml(r: EnergyReportResult): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>xsiot energy report: ${esc(r.app)} on ${esc(r.board.id)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:960px}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>
<h1>Energy: ${esc(r.app)} on ${esc(r.board.id)}</h1>
<pre>${esc(formatReport(r))}</pre>
<h2>Current over the first virtual day (log scale)</h2>${dayPlot(r)}
<h2>Charge by state over ${r.days} day(s)</h2>${statePlot(r)}
<h2>Board figures and sources</h2><ul>${Object.entries(r.board.power)
    .map(([k, v]) => `<li><b>${esc(k)}</b> = ${esc(String((v as { value: number }).value))}: ${esc((v as { source: string }).source)}</li>`)
    .join("")}</ul>
</body></html>
`;
}
