// The xsiot web console: four views over the cloud's HTTP API (fleet, one thing,
// jobs & OTA, energy), live through Server-Sent Events (/console/events). No
// framework: each view renders into <main> and refreshes itself on events.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

// ------------------------------------------------------------------ data types
interface VirtualView { device: string; thing: string | null; state: string; now: number; nextWake: number | null; averageUa: number | null; totalMah: number | null; projectedYears: number | null; sampled: { t: number; value: number | null; batteryMv?: number; count: number } | null }
interface FleetRow { thingName: string; registered: boolean; connected: boolean | null; lastSeen: number | null; version: string | null; batteryMv: number | null; lastReading: { t: number; value: number | null } | null; readings: number; alarms?: number; virtual: VirtualView | null }
interface Alarm { thingName: string; profile: string; behavior: string; metric: string; value: number; criteria: { comparisonOperator: string; value: { count: number }; durationSeconds?: number }; state: string; raisedAt: number; lastViolationAt: number }
interface Fleet { now: number; virtualNow: number | null; things: FleetRow[]; unprovisioned: VirtualView[]; alarms?: Alarm[] }
interface CommandExecution { executionId: string; thingName: string; name: string; payload?: unknown; status: string; statusReason?: { reasonCode: string; reasonDescription?: string }; createdAt: number; deadline: number; deliveries: number; lastDeliveredAt?: number; completedAt?: number }
interface Execution { jobId: string; thingName: string; status: string; statusDetails?: Record<string, string>; versionNumber: number; executionNumber?: number; queuedAt?: number; lastUpdatedAt?: number; job?: Job | null }
interface Job { jobId: string; status: string; targets: string[]; document: Record<string, unknown>; description?: string; createdAt: number }
interface ThingDetail {
  thing: { thingName: string; attributes: Record<string, string>; createdAt: number; version: number } | null;
  connected: boolean | null; lastSeen: number | null; telemetry: [number, number | null, number][]; counters: Record<string, number> | null;
  shadow: { state: { desired?: object; reported?: object; delta?: object }; version: number; metadata?: object } | null;
  executions: Execution[]; certificates: Record<string, unknown>[]; virtual: VirtualView | null;
}
interface EnergyDevice extends VirtualView { energy: { mah: Record<string, number>; ms: Record<string, number>; durationMs: number; batteryMah: number } | null; life: [number, number][] }

// ------------------------------------------------------------------ helpers
const $ = <T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document) => root.querySelector(sel) as T | null;
const esc = (v: unknown) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const main = () => $("#main")!;

class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch (e) {
    throw new ApiFailure(0, "Unreachable", `the cloud does not answer (${(e as Error).message})`);
  }
  if (res.status === 401) {
    location.href = "/login";
    throw new ApiFailure(401, "Unauthorized", "sign in first");
  }
  const text = await res.text();
  let json: unknown;
  try { json = text ? JSON.parse(text) : undefined; } catch { throw new ApiFailure(res.status, "BadAnswer", `HTTP ${res.status}: ${text.slice(0, 200)}`); }
  if (!res.ok) {
    const e = (json ?? {}) as { code?: unknown; message?: unknown };
    throw new ApiFailure(res.status, String(e.code ?? res.status), String(e.message ?? `HTTP ${res.status}`));
  }
  return json as T;
}

function showError(e: unknown): void {
  const box = $("#error")!;
  box.textContent = e instanceof ApiFailure ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);
  box.hidden = false;
}
function clearError(): void { $("#error")!.hidden = true; }

const fmtTime = (t: number | null | undefined) => (t ? new Date(t).toISOString().replace("T", " ").slice(0, 19) : "–");
function ago(t: number | null | undefined): string {
  if (!t) return "–";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
const volts = (mv: number | null | undefined) => (mv ? `${(mv / 1000).toFixed(2)} V` : "–");
const dur = (ms: number) => (ms >= 7_200_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${(ms / 1000).toFixed(1)} s`);
const years = (y: number | null | undefined) => (y == null ? "–" : `${y.toFixed(1)} y`);

/** Calls fn at most once per `ms`, the last call winning. */
function throttle(fn: () => void, ms: number): () => void {
  let timer: number | undefined;
  let pending = false;
  return () => {
    if (timer !== undefined) { pending = true; return; }
    fn();
    timer = window.setTimeout(() => { timer = undefined; if (pending) { pending = false; fn(); } }, ms);
  };
}

function plotWidth(el: HTMLElement): number { return Math.max(260, Math.floor(el.getBoundingClientRect().width || 600)); }

// ------------------------------------------------------------------ state and live updates
let fleet: Fleet | undefined;
type View = { name: string; onFleet?: () => void; onChange?: (c: { kind: string; thing?: string; jobId?: string; readings?: [number, number | null, number][] }) => void; dispose?: () => void };
let view: View | undefined;

function connect(): void {
  const live = $("#live")!;
  const es = new EventSource("/console/events");
  es.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  es.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  es.addEventListener("fleet", (ev) => {
    fleet = JSON.parse((ev as MessageEvent).data) as Fleet;
    $("#clock")!.textContent = fleet.virtualNow ? `virtual time ${fmtTime(fleet.virtualNow)}` : "";
    view?.onFleet?.();
  });
  es.addEventListener("change", (ev) => view?.onChange?.(JSON.parse((ev as MessageEvent).data)));
}

// ------------------------------------------------------------------ fleet view
let filterText = "";
function fleetView(): View {
  main().innerHTML = `<h1>Fleet</h1>
  <div class="row"><input id="filter" type="search" placeholder="filter: name, version, state" aria-label="filter things" value="${esc(filterText)}"></div>
  <section class="card scroll"><table id="fleet"><thead><tr>
    <th>thing</th><th>state</th><th>version</th><th>last seen</th><th>battery</th><th>last reading</th><th class="hide-narrow">readings</th><th class="hide-narrow">next wake</th><th>projected life</th>
  </tr></thead><tbody></tbody></table><p id="fleet-empty" class="muted" hidden>No things yet: devices appear when they connect or are provisioned.</p></section>
  <section class="card scroll"><h2>Device Defender alarms <span id="alarm-count" class="muted"></span></h2><table id="alarms" class="compact"><thead><tr><th>thing</th><th>profile / behavior</th><th>metric</th><th>value</th><th>expected</th><th>raised</th><th>last violation</th></tr></thead><tbody></tbody></table>
  <p id="alarms-empty" class="muted">No active alarms: every thing is within its security profiles (the built-in <code>xsiot-baseline</code> alarms on a message flood, authorization failures, a reconnect loop, bytes out, listening ports).</p></section>`;
  const input = $<HTMLInputElement>("#filter")!;
  input.addEventListener("input", () => { filterText = input.value; render(); });
  const body = $("#fleet tbody")!;
  body.addEventListener("click", (ev) => {
    const tr = (ev.target as HTMLElement).closest("tr[data-thing]") as HTMLElement | null;
    if (tr) location.hash = `#/thing/${encodeURIComponent(tr.dataset.thing!)}`;
  });
  function render(): void {
    if (!fleet) return;
    const f = filterText.trim().toLowerCase();
    const rows = fleet.things.filter((r) => !f || [r.thingName, r.version, r.virtual?.state, r.virtual?.device].some((x) => String(x ?? "").toLowerCase().includes(f)));
    body.innerHTML = rows.map((r) => {
      const state = r.virtual ? r.virtual.state : r.connected == null ? "–" : r.connected ? "connected" : "offline";
      const conn = r.connected == null ? "" : `<span class="pill ${r.connected ? "on" : "off"}">${r.connected ? "online" : "offline"}</span> `;
      // A virtual device's latest sample shows before it is uplinked (marked "on device").
      const sm = r.virtual?.sampled;
      const local = sm && sm.t > (r.lastReading?.t ?? 0) + 1000 ? sm : undefined;
      const shown = local ? { t: local.t, value: local.value } : r.lastReading;
      const reading = shown ? `${shown.value == null ? "–" : `${shown.value.toFixed(2)} °C`} <span class="muted">${fmtTime(shown.t).slice(11, 16)}${local ? " on device" : ""}</span>` : "–";
      const battery = local?.batteryMv ?? r.batteryMv;
      const badge = r.alarms ? ` <span class="pill alarm" title="active Device Defender alarms">${r.alarms} alarm${r.alarms > 1 ? "s" : ""}</span>` : "";
      return `<tr class="link" data-thing="${esc(r.thingName)}"><td class="name" data-label="thing"><a href="#/thing/${encodeURIComponent(r.thingName)}">${esc(r.thingName)}</a>${badge}${r.virtual ? ` <span class="muted">${esc(r.virtual.device)}</span>` : ""}</td>
        <td class="state" data-label="state">${conn}${esc(state)}</td><td class="version" data-label="version">${esc(r.version ?? "–")}</td><td class="seen" data-label="last seen">${ago(r.lastSeen)}</td>
        <td class="battery" data-label="battery">${volts(battery)}</td><td class="reading" data-label="last reading">${reading}</td><td class="readings hide-narrow" data-label="readings" title="in the cloud${sm ? ` / taken by the device since it started` : ""}">${r.readings}${sm ? ` <span class="muted">/ ${sm.count}</span>` : ""}</td>
        <td class="hide-narrow" data-label="next wake">${r.virtual?.nextWake ? fmtTime(r.virtual.nextWake).slice(11) : "–"}</td><td class="life" data-label="projected life">${years(r.virtual?.projectedYears)}</td></tr>`;
    }).join("") + fleet.unprovisioned.map((v) => `<tr><td class="muted">${esc(v.device)} (provisioning)</td><td>${esc(v.state)}</td><td colspan="7"></td></tr>`).join("");
    $("#fleet-empty")!.hidden = rows.length + fleet.unprovisioned.length > 0;
    const alarms = (fleet.alarms ?? []).filter((a) => !f || a.thingName.toLowerCase().includes(f));
    $("#alarm-count")!.textContent = fleet.alarms?.length ? `(${fleet.alarms.length} active)` : "";
    $("#alarms tbody")!.innerHTML = alarms.map((a) => `<tr data-thing="${esc(a.thingName)}" data-behavior="${esc(a.behavior)}"><td><a href="#/thing/${encodeURIComponent(a.thingName)}">${esc(a.thingName)}</a></td><td>${esc(a.profile)} / <strong class="bad">${esc(a.behavior)}</strong></td><td>${esc(a.metric)}</td><td class="value">${esc(a.value)}</td><td>${esc(criteria(a))}</td><td>${fmtTime(a.raisedAt)}</td><td>${ago(a.lastViolationAt)}</td></tr>`).join("");
    $("#alarms")!.hidden = !alarms.length;
    $("#alarms-empty")!.hidden = alarms.length > 0;
  }
  render();
  return { name: "fleet", onFleet: render };
}

const OPS: Record<string, string> = { "less-than": "<", "less-than-equals": "≤", "greater-than": ">", "greater-than-equals": "≥" };
function criteria(a: Alarm): string {
  const c = a.criteria;
  return `${OPS[c.comparisonOperator] ?? c.comparisonOperator} ${c.value.count}${c.durationSeconds ? ` per ${c.durationSeconds / 60} min` : ""}`;
}

// ------------------------------------------------------------------ one thing
function thingView(name: string): View {
  main().innerHTML = `<h1><a href="#/">Fleet</a> / <span id="thing-name">${esc(name)}</span></h1>
  <section class="card"><h2>Telemetry</h2><p class="muted">Drag across the plot to zoom to a range; double-click to see all.</p><div id="plot" class="plot"></div><p id="plot-empty" class="muted" hidden>No readings yet.</p></section>
  <div class="grid">
    <section class="card"><h2>Shadow <span id="shadow-version" class="muted"></span></h2>
      <div id="shadow-docs"></div>
      <h2 style="margin-top:1rem">Update desired state</h2>
      <form id="shadow-form"><textarea id="desired" spellcheck="false" aria-label="desired state (JSON)"></textarea>
      <div class="row"><label>expected version <input id="expected-version" type="number" min="0" step="1" style="width:7rem"></label>
      <button type="submit" id="shadow-send">Send update</button><button type="button" class="secondary" id="shadow-reload">Load current</button></div></form>
      <div id="shadow-result" role="status"></div></section>
    <section class="card"><h2>Status</h2><dl id="status" class="kv"></dl></section>
  </div>
  <section class="card scroll" style="margin-top:1rem" id="commands-card"><h2>Commands</h2>
    <form id="command-form"><div class="row"><label>name <input id="command-name" type="text" size="14" value="identify" required></label>
      <label>time to live <input id="command-ttl" type="text" size="8" value="30m" title="seconds, or like 90s, 30m, 6h, 7d" required></label>
      <button type="submit" id="command-send">Send command</button></div>
      <textarea id="command-payload" spellcheck="false" aria-label="command payload (JSON, optional)" style="min-height:3rem">{"times": 3}</textarea></form>
    <p class="muted">The cloud holds the command until the thing next connects and delivers it only before its deadline; the device answers, or refuses it as too late by its own clock. Unanswered by the deadline: TIMED_OUT.</p>
    <div id="command-result" role="status"></div>
    <table id="commands"><thead><tr><th>command</th><th>status</th><th>reason</th><th>sent</th><th title="by the cloud's clock">deadline</th><th>deliveries</th></tr></thead><tbody></tbody></table></section>
  <section class="card scroll"><h2>Jobs</h2><table id="thing-jobs"><thead><tr><th>job</th><th>status</th><th>progress</th><th>step / reason</th><th>updated</th></tr></thead><tbody></tbody></table></section>
  <section class="card scroll"><h2>Certificate and provisioning</h2><div id="certs"></div></section>`;
  let plot: uPlot | undefined;
  let detail: ThingDetail | undefined;
  let alive = true;
  /** The editor follows the shadow until the user types in it. */
  let dirty = false;
  const textarea = $<HTMLTextAreaElement>("#desired")!;
  const expected = $<HTMLInputElement>("#expected-version")!;
  const result = $("#shadow-result")!;

  function loadEditor(): void {
    const s = detail?.shadow;
    textarea.value = JSON.stringify(s?.state.desired ?? {}, null, 2);
    expected.value = s ? String(s.version) : "";
    dirty = false;
  }
  textarea.addEventListener("input", () => (dirty = true));
  expected.addEventListener("input", () => (dirty = true));
  $("#shadow-reload")!.addEventListener("click", () => { loadEditor(); result.innerHTML = ""; });
  $("#shadow-form")!.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.innerHTML = "";
    let desired: unknown;
    try { desired = JSON.parse(textarea.value); } catch (e) {
      result.innerHTML = `<div class="msg error">Not valid JSON: ${esc((e as Error).message)}</div>`;
      return;
    }
    const body: Record<string, unknown> = { state: { desired } };
    if (expected.value.trim() !== "") body.version = Number(expected.value);
    const btn = $<HTMLButtonElement>("#shadow-send")!;
    btn.disabled = true;
    try {
      const r = await api<{ version: number }>("POST", `/things/${encodeURIComponent(name)}/shadow`, body);
      dirty = false;
      await refresh();
      result.innerHTML = `<div class="msg done">Accepted: the shadow is at version ${r.version}. The device applies it at its next uplink.</div>`;
    } catch (e) {
      const f = e as ApiFailure;
      if (f.status === 409) {
        await refresh();
        result.innerHTML = `<div class="msg conflict"><strong>Version conflict.</strong> You edited version ${esc(body.version)}, but the shadow is now at version ${esc(detail?.shadow?.version ?? "?")} (someone, or the device, changed it). Your text is kept: check the current document above, then set the expected version to ${esc(detail?.shadow?.version ?? "?")} and send again.</div>`;
      } else result.innerHTML = `<div class="msg error">${esc(f.code ?? "Error")}: ${esc(f.message)}</div>`;
    } finally { btn.disabled = false; }
  });

  function drawPlot(): void {
    const el = $("#plot")!;
    const rows = detail?.telemetry ?? [];
    $("#plot-empty")!.hidden = rows.length > 0;
    const data: uPlot.AlignedData = [rows.map((r) => r[0] / 1000), rows.map((r) => r[1]), rows.map((r) => (r[2] ? r[2] / 1000 : null))];
    if (plot) {
      // Keep a zoomed range while new points arrive.
      const sx = plot.scales.x;
      const zoomed = plot.select.width === 0 && sx.min != null && rows.length > 1 && (sx.min > data[0][0] || (sx.max ?? 0) < data[0][data[0].length - 2]);
      plot.setData(data, !zoomed);
      return;
    }
    if (!rows.length) return;
    plot = new uPlot({
      width: plotWidth(el), height: 260,
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true }, V: { range: (_u, min, max) => [Math.floor((min - 0.05) * 10) / 10, Math.ceil((max + 0.05) * 10) / 10] } },
      series: [{}, { label: "temperature °C", stroke: "#d1495b", scale: "°C", spanGaps: true, points: { show: false } }, { label: "battery V", stroke: "#0b63c5", scale: "V", spanGaps: true, points: { show: false } }],
      axes: [{}, { scale: "°C", label: "°C" }, { scale: "V", label: "V", side: 1, grid: { show: false } }],
    }, data, el);
  }
  const onResize = () => plot?.setSize({ width: plotWidth($("#plot")!), height: 260 });
  window.addEventListener("resize", onResize);

  function renderDetail(): void {
    const d = detail!;
    const s = d.shadow;
    $("#shadow-version")!.textContent = s ? `version ${s.version}` : "(none yet)";
    const block = (label: string, v: unknown, id: string) => `<h3 class="muted" style="font-size:.85rem;margin:.4rem 0 .2rem">${label}</h3><pre id="${id}">${esc(v === undefined ? "–" : JSON.stringify(v, null, 2))}</pre>`;
    $("#shadow-docs")!.innerHTML = block("desired", s?.state.desired, "shadow-desired") + block("reported", s?.state.reported, "shadow-reported") + block("delta (desired, not yet reported)", s?.state.delta, "shadow-delta");
    if (!dirty) loadEditor();
    const v = d.virtual;
    const last = d.telemetry[d.telemetry.length - 1];
    const items: [string, string][] = [
      ["connection", d.connected == null ? "–" : d.connected ? "online" : "offline"],
      ["last seen", ago(d.lastSeen)],
      ["last reading", last ? `${last[1]?.toFixed(2) ?? "–"} °C, ${volts(last[2])} at ${fmtTime(last[0])}` : "–"],
      ["readings kept", String(d.telemetry.length)],
      ...((fleet?.alarms ?? []).some((a) => a.thingName === name) ? ([["Defender alarms", (fleet?.alarms ?? []).filter((a) => a.thingName === name).map((a) => `${a.behavior}: ${a.metric} = ${a.value}`).join(", ")]] as [string, string][]) : []),
      ...(d.counters ? ([["device counters", Object.entries(d.counters).map(([k, n]) => `${k} ${n}`).join(", ") || "–"]] as [string, string][]) : []),
      ...(v ? ([["virtual device", `${v.device}: ${v.state}`], ["next wake", fmtTime(v.nextWake)], ["average current", v.averageUa == null ? "–" : `${v.averageUa.toFixed(1)} µA`], ["projected life", years(v.projectedYears)]] as [string, string][]) : []),
      ...(d.thing ? ([["attributes", Object.entries(d.thing.attributes).map(([k, x]) => `${k}=${x}`).join(", ") || "–"], ["registered", fmtTime(d.thing.createdAt)]] as [string, string][]) : [["registered", "no"]] as [string, string][]),
    ];
    $("#status")!.innerHTML = items.map(([k, x]) => `<dt>${esc(k)}</dt><dd>${esc(x)}</dd>`).join("");
    $("#thing-jobs tbody")!.innerHTML = d.executions.slice().reverse().map((e) => {
      const p = progressOf(e);
      return `<tr><td><a href="#/jobs">${esc(e.jobId)}</a></td><td>${statusHtml(e.status)}</td><td>${barHtml(p.frac, e.status)} ${p.label}</td><td>${esc(e.statusDetails?.step ?? "")}${e.statusDetails?.reason ? ` <span class="bad">${esc(e.statusDetails.reason)}</span>` : ""}</td><td>${fmtTime(e.lastUpdatedAt)}</td></tr>`;
    }).join("") || `<tr><td colspan="5" class="muted">No jobs for this thing.</td></tr>`;
    $("#certs")!.innerHTML = d.certificates.length
      ? `<table><thead><tr>${Object.keys(d.certificates[0]).map((k) => `<th>${esc(k)}</th>`).join("")}</tr></thead><tbody>${d.certificates.map((c) => `<tr>${Object.entries(c).map(([k, x]) => `<td>${esc(k === "createdAt" ? fmtTime(x as number) : k === "certificateId" ? String(x).slice(0, 16) + "…" : x)}</td>`).join("")}</tr>`).join("")}</tbody></table>`
      : `<p class="muted">No provisioned certificate: the thing connects with a factory identity (its certificate's CN is the thing name) or on the plain listener.</p>`;
    drawPlot();
  }

  async function refresh(): Promise<void> {
    try {
      const d = await api<ThingDetail>("GET", `/console/things/${encodeURIComponent(name)}`);
      if (!alive) return;
      detail = d;
      renderDetail();
    } catch (e) { showError(e); }
  }
  const later = throttle(() => void refresh(), 700);
  void refresh();

  // Commands: the cloud's command API, refreshed when the console announces a delivery or a status change.
  let commands: CommandExecution[] = [];
  function renderCommands(): void {
    $("#commands tbody")!.innerHTML = commands.slice().reverse().map((x) => {
      const left = x.deadline - Date.now();
      const deadline = `${fmtTime(x.deadline)} <span class="muted">${TERMINAL.has(x.status) ? "" : left > 0 ? `in ${Math.ceil(left / 60_000)} min` : "passed"}</span>`;
      const reason = x.statusReason ? `${x.statusReason.reasonCode}${x.statusReason.reasonDescription ? `: ${x.statusReason.reasonDescription}` : ""}` : "";
      return `<tr data-id="${esc(x.executionId)}" data-name="${esc(x.name)}"><td title="${esc(x.executionId)}${x.payload === undefined ? "" : ` ${JSON.stringify(x.payload)}`}">${esc(x.name)}</td><td class="status">${statusHtml(x.status)}</td><td class="reason wrap">${esc(reason)}</td><td>${fmtTime(x.createdAt)}</td><td>${deadline}</td><td class="deliveries">${x.deliveries}</td></tr>`;
    }).join("") || `<tr><td colspan="6" class="muted">No commands for this thing.</td></tr>`;
  }
  async function refreshCommands(): Promise<void> {
    try {
      const r = await api<{ commands: CommandExecution[] }>("GET", `/things/${encodeURIComponent(name)}/commands`);
      if (!alive) return;
      commands = r.commands;
      renderCommands();
    } catch (e) {
      if ((e as ApiFailure).status === 404) $("#commands-card")!.hidden = true; // a cloud without the commands service
      else showError(e);
    }
  }
  $("#command-form")!.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#command-result")!;
    out.innerHTML = "";
    const text = $<HTMLTextAreaElement>("#command-payload")!.value.trim();
    let payload: unknown;
    if (text) {
      try { payload = JSON.parse(text); } catch (e) {
        out.innerHTML = `<div class="msg error">The payload is not valid JSON: ${esc((e as Error).message)}</div>`;
        return;
      }
    }
    const ttlText = $<HTMLInputElement>("#command-ttl")!.value.trim();
    const ttl = /^\d+$/.test(ttlText) ? Number(ttlText) : ttlText;
    const btn = $<HTMLButtonElement>("#command-send")!;
    btn.disabled = true;
    try {
      const x = await api<CommandExecution>("POST", `/things/${encodeURIComponent(name)}/commands`, { name: $<HTMLInputElement>("#command-name")!.value.trim(), ttl, ...(payload === undefined ? {} : { payload }) });
      out.innerHTML = `<div class="msg done">Sent ${esc(x.name)} (${esc(x.status)}): deadline ${fmtTime(x.deadline)}. The device gets it at its next connection.</div>`;
      await refreshCommands();
    } catch (e) {
      out.innerHTML = `<div class="msg error">${esc((e as ApiFailure).code ?? "Error")}: ${esc((e as Error).message)}</div>`;
    } finally { btn.disabled = false; }
  });
  const laterCommands = throttle(() => void refreshCommands(), 500);
  void refreshCommands();
  let ticks = 0;
  return {
    name: "thing",
    onChange: (c) => {
      if (c.thing !== name) return;
      if (c.kind === "command") return laterCommands();
      if (c.kind === "telemetry" && detail && c.readings) {
        detail.telemetry = mergeReadings(detail.telemetry, c.readings);
        drawPlot();
      }
      later();
    },
    onFleet: () => {
      // Commands sent elsewhere (the CLI) announce nothing until delivered: look every 5 s; redraw the deadlines.
      if (++ticks % 5 === 0) laterCommands();
      const r = fleet?.things.find((t) => t.thingName === name);
      if (detail && r) { detail.lastSeen = r.lastSeen; detail.virtual = r.virtual; detail.connected = r.connected; }
    },
    dispose: () => { alive = false; window.removeEventListener("resize", onResize); plot?.destroy(); },
  };
}

/** Readings by time, one per instant (uPlot needs ascending x; resent copies are dropped). */
function mergeReadings(a: [number, number | null, number][], b: [number, number | null, number][]): [number, number | null, number][] {
  const m = new Map<number, [number, number | null, number]>();
  for (const r of a) m.set(r[0], r);
  for (const r of b) m.set(r[0], r);
  return [...m.values()].sort((x, y) => x[0] - y[0]);
}

// ------------------------------------------------------------------ jobs and OTA
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "REJECTED", "REMOVED", "CANCELED", "TIMED_OUT"]);
function statusHtml(s: string): string {
  const cls = s === "SUCCEEDED" ? "ok" : TERMINAL.has(s) ? "bad" : s === "IN_PROGRESS" ? "warn" : "muted";
  return `<span class="${cls}">${esc(s)}</span>`;
}
function progressOf(e: Execution): { frac: number; label: string } {
  const d = e.statusDetails ?? {};
  const received = Number(d.received);
  const total = Number(d.total);
  const doc = e.job?.document as { afr_ota?: { files?: { filesize?: number }[] } } | undefined;
  const size = doc?.afr_ota?.files?.[0]?.filesize;
  if (!doc?.afr_ota) return { frac: TERMINAL.has(e.status) ? 1 : 0, label: "" };
  let frac = 0;
  if (e.status === "SUCCEEDED") frac = 1;
  else if (total > 0 && received >= 0) frac = Math.min(1, received / total);
  else if (d.step === "verifying" || d.step === "rebooting" || d.step === "confirmed") frac = 1;
  const pct = `<span class="pct">${Math.round(frac * 100)}%</span>`;
  const bytes = size ? ` ${Math.round((frac * size) / 1024)}/${Math.round(size / 1024)} KB` : "";
  const win = total > 0 ? ` window ${Math.min(Math.ceil(total / 32), Math.floor(received / 32) + 1)}/${Math.ceil(total / 32)}` : "";
  return { frac, label: `${pct}<span class="muted">${bytes}${win}</span>` };
}
function barHtml(frac: number, status: string): string {
  const cls = status === "SUCCEEDED" ? "done" : TERMINAL.has(status) ? "failed" : "";
  return `<div class="bar ${cls}" role="progressbar" aria-valuenow="${Math.round(frac * 100)}" aria-valuemin="0" aria-valuemax="100" style="display:inline-block;width:8rem;vertical-align:middle"><i style="width:${(frac * 100).toFixed(1)}%"></i></div>`;
}
function nextVersion(): string {
  const vs = (fleet?.things ?? []).map((t) => t.version).filter((v): v is string => !!v && /^\d+(\.\d+)*$/.test(v));
  if (!vs.length) return "1.1.0";
  const top = vs.map((v) => v.split(".").map(Number)).sort((a, b) => { for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0); return 0; }).pop()!;
  while (top.length < 3) top.push(0);
  top[1]++; top[2] = 0;
  return top.join(".");
}

function jobsView(): View {
  main().innerHTML = `<h1>Jobs &amp; OTA</h1>
  <div class="grid">
    <section class="card"><h2>Publish a signed firmware image</h2>
      <form id="ota-form"><div id="ota-things" class="row"></div>
      <div class="row"><label>version <input id="ota-version" type="text" size="10" required></label><button type="submit" id="ota-publish">Build, sign, publish</button></div></form>
      <p class="muted">The cloud builds the reference firmware at this version, signs it with the code-signing key, stores it as an MQTT stream and creates an OTA job for the chosen things. Devices fetch it at their next uplink.</p>
      <div id="ota-result" role="status"></div></section>
    <section class="card"><h2>Create a job</h2>
      <form id="job-form"><div class="row"><label>job id <input id="job-id" type="text" size="18" required></label><label>targets <input id="job-targets" type="text" size="24" placeholder="thing1,thing2" required></label></div>
      <textarea id="job-doc" spellcheck="false" aria-label="job document (JSON)">{"operation":"reboot"}</textarea>
      <div class="row"><button type="submit">Create job</button></div></form><div id="job-result" role="status"></div></section>
  </div>
  <section class="card scroll" style="margin-top:1rem"><h2>Jobs</h2><div id="jobs"></div></section>`;
  let otaThingsDrawn = "";
  function drawOtaThings(): void {
    const names = (fleet?.things ?? []).filter((t) => t.registered).map((t) => t.thingName);
    const key = names.join(",");
    if (key === otaThingsDrawn) return;
    const checked = new Set([...document.querySelectorAll<HTMLInputElement>("#ota-things input:checked")].map((i) => i.value));
    otaThingsDrawn = key;
    $("#ota-things")!.innerHTML = names.map((n) => `<label><input type="checkbox" name="ota-thing" value="${esc(n)}"${checked.has(n) ? " checked" : ""}> ${esc(n)}</label>`).join("") || `<span class="muted">No registered things yet.</span>`;
    const v = $<HTMLInputElement>("#ota-version")!;
    if (!v.value) v.value = nextVersion();
  }
  drawOtaThings();
  $("#ota-form")!.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#ota-result")!;
    const things = [...document.querySelectorAll<HTMLInputElement>("#ota-things input:checked")].map((i) => i.value);
    const btn = $<HTMLButtonElement>("#ota-publish")!;
    btn.disabled = true;
    out.innerHTML = `<div class="msg">Building and signing…</div>`;
    try {
      const r = await api<{ jobId: string; size: number }>("POST", "/console/ota", { things, version: $<HTMLInputElement>("#ota-version")!.value.trim() });
      out.innerHTML = `<div class="msg done">Published ${Math.round(r.size / 1024)} KB as job ${esc(r.jobId)}.</div>`;
      void refresh();
    } catch (e) {
      out.innerHTML = `<div class="msg error">${esc((e as ApiFailure).code)}: ${esc((e as Error).message)}</div>`;
    } finally { btn.disabled = false; }
  });
  $("#job-form")!.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#job-result")!;
    let document: unknown;
    try { document = JSON.parse($<HTMLTextAreaElement>("#job-doc")!.value); } catch (e) {
      out.innerHTML = `<div class="msg error">The document is not valid JSON: ${esc((e as Error).message)}</div>`;
      return;
    }
    const targets = $<HTMLInputElement>("#job-targets")!.value.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      const j = await api<Job>("POST", "/jobs", { jobId: $<HTMLInputElement>("#job-id")!.value.trim(), targets, document });
      out.innerHTML = `<div class="msg done">Created job ${esc(j.jobId)} for ${esc(j.targets.join(", "))}.</div>`;
      void refresh();
    } catch (e) { out.innerHTML = `<div class="msg error">${esc((e as ApiFailure).code)}: ${esc((e as Error).message)}</div>`; }
  });
  $("#jobs")!.addEventListener("click", async (ev) => {
    const b = (ev.target as HTMLElement).closest("button[data-cancel]") as HTMLButtonElement | null;
    if (!b) return;
    b.disabled = true;
    try {
      await api("POST", `/jobs/${encodeURIComponent(b.dataset.cancel!)}/cancel`, { force: b.dataset.force === "1", comment: "canceled from the console" });
      void refresh();
    } catch (e) { showError(e); b.disabled = false; }
  });
  let alive = true;
  async function refresh(): Promise<void> {
    try {
      const { jobs } = await api<{ jobs: Job[] }>("GET", "/jobs");
      if (!alive) return;
      const recent = jobs.slice().sort((a, b) => b.createdAt - a.createdAt).slice(0, 15);
      const details = await Promise.all(recent.map((j) => api<{ job: Job; executions: Execution[] }>("GET", `/jobs/${encodeURIComponent(j.jobId)}`)));
      if (!alive) return;
      $("#jobs")!.innerHTML = details.map(({ job, executions }) => {
        const open = executions.some((e) => !TERMINAL.has(e.status));
        const rows = executions.map((e) => {
          const p = progressOf({ ...e, job });
          return `<tr data-job="${esc(job.jobId)}" data-thing="${esc(e.thingName)}"><td>${esc(e.thingName)}</td><td class="status">${statusHtml(e.status)}</td><td class="progress">${barHtml(p.frac, e.status)} ${p.label}</td><td>${esc(e.statusDetails?.step ?? "")}${e.statusDetails?.reason ? ` <span class="bad">${esc(e.statusDetails.reason)}</span>` : ""}</td><td>${fmtTime(e.lastUpdatedAt)}</td></tr>`;
        }).join("");
        return `<div class="job" data-job="${esc(job.jobId)}" style="margin-bottom:1rem"><div class="row"><strong>${esc(job.jobId)}</strong> ${statusHtml(job.status)} <span class="muted">${esc(job.description ?? "")} · created ${fmtTime(job.createdAt)}</span>
          ${open ? `<button class="secondary" data-cancel="${esc(job.jobId)}">Cancel queued</button><button class="secondary" data-cancel="${esc(job.jobId)}" data-force="1">Cancel all (force)</button>` : ""}</div>
          <table><thead><tr><th>thing</th><th>status</th><th>progress</th><th>step / reason</th><th>updated</th></tr></thead><tbody>${rows}</tbody></table></div>`;
      }).join("") || `<p class="muted">No jobs yet.</p>`;
    } catch (e) { showError(e); }
  }
  const later = throttle(() => void refresh(), 500);
  void refresh();
  return { name: "jobs", onFleet: drawOtaThings, onChange: (c) => { if (c.kind === "job") later(); }, dispose: () => { alive = false; } };
}

// ------------------------------------------------------------------ energy
function energyView(): View {
  main().innerHTML = `<h1>Energy</h1><style>#energy-cards{grid-template-columns:repeat(auto-fit,minmax(340px,1fr))}</style><p class="muted">Charge drawn per power state by each virtual ESP32 (from its board file's figures), and the battery life projected from the average current so far.</p>
  <div id="energy-cards" class="grid"></div><section class="card" style="margin-top:1rem"><h2>Projected battery life over virtual time</h2><div id="life-plot" class="plot"></div><p id="life-empty" class="muted">Projections start after 6 virtual hours.</p></section>`;
  const plots: uPlot[] = [];
  let lifePlot: uPlot | undefined;
  let alive = true;
  const colors = ["#d1495b", "#0b63c5", "#2a9d8f", "#e9c46a", "#6a4c93", "#f4a261"];
  async function refresh(): Promise<void> {
    let devices: EnergyDevice[];
    try { ({ devices } = await api<{ devices: EnergyDevice[] }>("GET", "/console/energy")); } catch (e) { showError(e); return; }
    if (!alive) return;
    const cards = $("#energy-cards")!;
    if (!devices.length) { cards.innerHTML = `<section class="card"><p class="muted">No virtual devices in this cloud process (energy is measured by the simulator: run <code>npm start</code> or <code>xsiot energy</code>).</p></section>`; return; }
    if (cards.children.length !== devices.length) {
      plots.splice(0).forEach((p) => p.destroy());
      cards.innerHTML = devices.map((d, i) => `<section class="card"><h2>${esc(d.thing ?? d.device)} <span class="muted">${esc(d.device)}</span></h2><div id="e-plot-${i}" class="plot"></div><div class="scroll"><table id="e-table-${i}" class="compact"></table></div></section>`).join("");
    }
    devices.forEach((d, i) => {
      if (!d.energy) return;
      const states = Object.keys(d.energy.mah);
      const x = states.map((_, k) => k);
      const y = states.map((s) => d.energy!.mah[s]);
      const el = $(`#e-plot-${i}`)!;
      if (!plots[i]) {
        plots[i] = new uPlot({
          width: plotWidth(el), height: 200, legend: { show: false }, cursor: { show: false },
          scales: { x: { time: false, range: [-0.6, states.length - 0.4] } },
          axes: [{ values: (_u, ticks) => ticks.map((t) => states[t] ?? ""), splits: () => x, gap: 4, size: 64, rotate: -40 }, { label: "mAh", size: 60 }],
          series: [{}, { label: "mAh", fill: "#0b63c5aa", stroke: "#0b63c5", paths: uPlot.paths.bars!({ size: [0.6, 60] }), points: { show: false } }],
        }, [x, y], el);
      } else plots[i].setData([x, y]);
      const total = y.reduce((a, b) => a + b, 0);
      $(`#e-table-${i}`)!.innerHTML = `<thead><tr><th>state</th><th>mAh</th><th>share</th><th>time</th></tr></thead><tbody>${states.map((s, k) => `<tr><td>${esc(s)}</td><td>${y[k].toFixed(4)}</td><td>${total ? ((100 * y[k]) / total).toFixed(1) : "0"}%</td><td>${dur(d.energy!.ms[s])}</td></tr>`).join("")}
        <tr><td><strong>total</strong></td><td><strong>${total.toFixed(4)}</strong></td><td></td><td>${dur(d.energy.durationMs)}</td></tr>
        <tr><td>average</td><td colspan="3" class="wrap">${d.averageUa == null ? "–" : `${d.averageUa.toFixed(1)} µA`} · projected life <strong class="life">${years(d.projectedYears)}</strong> on ${d.energy.batteryMah} mAh</td></tr></tbody>`;
    });
    // Life over time: one series per device on a shared time axis.
    const times = [...new Set(devices.flatMap((d) => d.life.map((p) => p[0])))].sort((a, b) => a - b);
    $("#life-empty")!.hidden = times.length > 0;
    if (!times.length) return;
    const series = devices.map((d) => { const m = new Map(d.life); return times.map((t) => m.get(t) ?? null); });
    const data = [times.map((t) => t / 1000), ...series] as uPlot.AlignedData;
    if (lifePlot && lifePlot.series.length === devices.length + 1) lifePlot.setData(data);
    else {
      lifePlot?.destroy();
      const el = $("#life-plot")!;
      lifePlot = new uPlot({
        width: plotWidth(el), height: 240, scales: { x: { time: true } },
        series: [{}, ...devices.map((d, i) => ({ label: d.thing ?? d.device, stroke: colors[i % colors.length], spanGaps: true, points: { show: false } }))],
        axes: [{}, { label: "years", size: 50 }],
      }, data, el);
    }
  }
  void refresh();
  const later = throttle(() => void refresh(), 2000);
  return { name: "energy", onFleet: later, dispose: () => { alive = false; plots.forEach((p) => p.destroy()); lifePlot?.destroy(); } };
}

// ------------------------------------------------------------------ routing
function route(): void {
  view?.dispose?.();
  clearError();
  const h = location.hash.replace(/^#\/?/, "");
  const [a, ...rest] = h.split("/");
  if (a === "thing" && rest.length) view = thingView(decodeURIComponent(rest.join("/")));
  else if (a === "jobs") view = jobsView();
  else if (a === "energy") view = energyView();
  else view = fleetView();
  for (const el of document.querySelectorAll<HTMLAnchorElement>("header nav a")) el.classList.toggle("active", el.dataset.view === (view.name === "thing" ? "fleet" : view.name));
}

window.addEventListener("hashchange", route);
window.addEventListener("error", (e) => showError(e.error ?? e.message));
window.addEventListener("unhandledrejection", (e) => showError(e.reason));
route();
connect();
void api<Fleet>("GET", "/console/fleet").then((f) => { fleet ??= f; view?.onFleet?.(); }).catch(showError);
