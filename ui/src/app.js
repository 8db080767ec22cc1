// vessel's web dashboard: Preact components (htm templates, no JSX build
// step) over vesseld's REST API, uPlot for the usage charts.
//
// Every call goes through api(): the Incus envelope is unwrapped, an async
// answer is waited for (GET /1.0/operations/ID/wait), and a route the server
// does not have (404 from the router) becomes NotAvailable, which the panels
// show as "not available on this server" instead of failing: the UI works
// on a vesseld without the usage or policy routes.  On the loopback UI
// listener the API needs the bearer token, given once in the URL fragment
// (#token=...) and kept in this tab's sessionStorage.
import { h, render } from 'preact';
import { useState, useEffect, useRef, useCallback } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './app.css';

const html = htm.bind(h);

// ---- the API ----

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
class NotAvailable extends ApiError {}
class NeedToken extends ApiError {}

function token() {
  return sessionStorage.getItem('vessel-token');
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  let j = null;
  try {
    j = await res.json();
  } catch (e) {
    throw new ApiError(res.status, `${method} ${path}: HTTP ${res.status}`);
  }
  if (res.status === 401) throw new NeedToken(401, j.error || 'token needed');
  if (res.status === 404 && j.error === 'not found') throw new NotAvailable(404, 'not available on this server');
  if (j.type === 'error' || res.status >= 400) throw new ApiError(res.status, j.error || `HTTP ${res.status}`);
  return j;
}

async function api(method, path, body) {
  const j = await call(method, path, body);
  if (j.type === 'async' && j.operation) {
    const w = await call('GET', j.operation + '/wait?timeout=120');
    const op = w.metadata || {};
    if (op.status !== 'Success') throw new ApiError(500, op.err || `operation ${op.status}`);
    return op;
  }
  return j.metadata;
}

// ---- formatting ----

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
function bytes(n) {
  if (n === null || n === undefined || isNaN(n)) return '—';
  let i = 0;
  n = Number(n);
  while (Math.abs(n) >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(1) : n.toFixed(0)) + ' ' + UNITS[i];
}
function when(s) {
  if (!s) return '—';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}
function relative(s) {
  if (!s) return 'never';
  const d = new Date(s);
  if (isNaN(d)) return s;
  const sec = Math.round((d - Date.now()) / 1000);
  const a = Math.abs(sec);
  const t = a < 3600 ? `${Math.round(a / 60)} min` : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return sec >= 0 ? `in ${t}` : `${t} ago`;
}

// ---- small building blocks ----

function useLoad(fn, deps, everyMs) {
  const [state, set] = useState({ loading: true });
  const seq = useRef(0); // only the latest request's answer is shown
  const reload = useCallback(() => {
    const n = ++seq.current;
    fn().then(
      (data) => n === seq.current && set({ data }),
      (error) => n === seq.current && set({ error }),
    );
  }, deps);
  useEffect(() => {
    reload();
    if (!everyMs) return undefined;
    const t = setInterval(reload, everyMs);
    return () => clearInterval(t);
  }, [reload, everyMs]);
  return [state, reload];
}

function Status({ state, children }) {
  if (state.error instanceof NotAvailable)
    return html`<div class="na" data-na="1">Not available on this server (this vesseld has no such API route).</div>`;
  if (state.error instanceof NeedToken) return html`<div class="error">Token needed.</div>`;
  if (state.error) return html`<div class="error">${state.error.message}</div>`;
  if (state.loading) return html`<div class="muted">Loading…</div>`;
  return children(state.data);
}

// ---- charts (uPlot) ----

function Chart({ id, title, data, series, yFmt }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!box.current) return undefined;
    const width = Math.max(320, box.current.clientWidth || 420);
    const opts = {
      width,
      height: 180,
      series: [{}, ...series],
      axes: [{}, { values: (u, vals) => vals.map((v) => (yFmt ? yFmt(v) : v)), size: yFmt ? 86 : 50 }],
      legend: { show: true },
      scales: { x: { time: true } },
    };
    plot.current = new uPlot(opts, data, box.current);
    return () => {
      plot.current.destroy();
      plot.current = null;
    };
  }, [series.length]);
  useEffect(() => {
    if (plot.current) plot.current.setData(data);
  }, [data]);
  return html`<div class="chart" data-chart=${id} data-points=${data[0].length}>
    <h3>${title}</h3>
    <div ref=${box}></div>
  </div>`;
}

const WINDOWS = ['1h', '1d', '30d', '1y'];

function UsageCharts({ inst, tick }) {
  const [win, setWin] = useState('1h');
  // every 10 s; every 2 s while there are no samples yet (a new instance)
  const [fast, setFast] = useState(true);
  const [state] = useLoad(() => api('GET', `/1.0/instances/${encodeURIComponent(inst.name)}/usage?window=${win}`), [inst.name, win, tick], fast ? 2000 : 10000);
  const some = !!(state.data && state.data.samples && state.data.samples.length);
  useEffect(() => setFast(!some && !state.error), [some, state.error]);
  return html`<div>
    <div class="actions" style="margin-bottom:8px">
      ${WINDOWS.map((w) => html`<button class=${w === win ? 'primary' : ''} onClick=${() => setWin(w)}>${w}</button>`)}
    </div>
    <${Status} state=${state}>${(u) => {
      const s = u.samples || [];
      if (!s.length) return html`<div class="na" data-empty="1">No samples yet for this window.</div>`;
      const t = s.map((x) => x.t);
      const lim = u.limits || {};
      const cpuLimit = lim.cpu ? t.map(() => lim.cpu) : t.map(() => null);
      const memLimit = lim.memory ? t.map(() => lim.memory) : t.map(() => null);
      return html`<div class="charts">
        <${Chart} id="cpu" title=${`CPU (cores)${lim.cpu ? ` — limit ${lim.cpu}` : ''}`}
          data=${[t, s.map((x) => x.cpu), cpuLimit]}
          series=${[{ label: 'used', stroke: '#2563eb', fill: 'rgba(37,99,235,.12)', width: 2 },
                    { label: 'limit', stroke: '#b91c1c', dash: [6, 4], width: 1.5 }]} />
        <${Chart} id="memory" title=${`Memory${lim.memory ? ` — limit ${bytes(lim.memory)}` : ''}`} yFmt=${bytes}
          data=${[t, s.map((x) => x.memory), memLimit]}
          series=${[{ label: 'used', stroke: '#15803d', fill: 'rgba(21,128,61,.12)', width: 2, value: (u2, v) => bytes(v) },
                    { label: 'limit', stroke: '#b91c1c', dash: [6, 4], width: 1.5, value: (u2, v) => bytes(v) }]} />
        <${Chart} id="disk" title="Disk (bytes/s)" yFmt=${bytes}
          data=${[t, s.map((x) => x.disk_read), s.map((x) => x.disk_write)]}
          series=${[{ label: 'read', stroke: '#0891b2', width: 2, value: (u2, v) => bytes(v) },
                    { label: 'write', stroke: '#c2410c', width: 2, value: (u2, v) => bytes(v) }]} />
        <${Chart} id="net" title="Network (bytes/s)" yFmt=${bytes}
          data=${[t, s.map((x) => x.net_rx), s.map((x) => x.net_tx)]}
          series=${[{ label: 'rx', stroke: '#7c3aed', width: 2, value: (u2, v) => bytes(v) },
                    { label: 'tx', stroke: '#db2777', width: 2, value: (u2, v) => bytes(v) }]} />
      </div>`;
    }}<//>
  </div>`;
}

// ---- instances ----

function LimitBar({ used, limit, fmt }) {
  if (!limit) return html`<span class="muted">${fmt(used)} / no limit</span>`;
  const pct = Math.max(0, Math.min(100, (100 * (used || 0)) / limit));
  return html`<span><span class="bar"><i style=${`width:${pct}%`}></i></span>${fmt(used)} / ${fmt(limit)}</span>`;
}

function Launch({ onDone, toast, policy }) {
  const [name, setName] = useState('');
  const [image, setImage] = useState('busybox');
  const [type, setType] = useState('container');
  const [cpu, setCpu] = useState('');
  const [mem, setMem] = useState('');
  const [expires, setExpires] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    const config = {};
    if (cpu.trim()) config['limits.cpu'] = cpu.trim();
    if (mem.trim()) config['limits.memory'] = mem.trim();
    const body = { name, type, start: true, config, source: { type: 'image', alias: image } };
    if (policy && expires.trim()) body.expires = expires.trim();
    try {
      await api('POST', '/1.0/instances', body);
      toast(`Launched ${name}`);
      setName('');
      onDone();
    } catch (err) {
      toast(`Launch ${name}: ${err.message}`, true);
    }
    setBusy(false);
  };
  return html`<form class="launch" onSubmit=${submit}>
    <input id="launch-name" placeholder="name" required value=${name} onInput=${(e) => setName(e.target.value)} />
    <input id="launch-image" placeholder="image alias" required value=${image} onInput=${(e) => setImage(e.target.value)} />
    <select id="launch-type" value=${type} onChange=${(e) => setType(e.target.value)}>
      <option value="container">container</option>
      <option value="virtual-machine">virtual machine</option>
    </select>
    <input id="launch-cpu" size="6" placeholder="CPUs" title="limits.cpu (e.g. 2)" value=${cpu} onInput=${(e) => setCpu(e.target.value)} />
    <input id="launch-memory" size="9" placeholder="memory" title="limits.memory (e.g. 256MiB)" value=${mem} onInput=${(e) => setMem(e.target.value)} />
    ${policy ? html`<input id="launch-expires" size="10" placeholder="expires" title="an expiry: a duration (7d, 12h) or a date" value=${expires} onInput=${(e) => setExpires(e.target.value)} />` : null}
    <button id="launch-btn" class="primary" disabled=${busy || !name}>${busy ? 'Launching…' : 'Launch'}</button>
  </form>`;
}

function InstanceActions({ inst, onDone, toast }) {
  const [busy, setBusy] = useState(null);
  const path = `/1.0/instances/${encodeURIComponent(inst.name)}`;
  const act = (what, fn) => async (e) => {
    e.stopPropagation();
    setBusy(what);
    try {
      await fn();
      toast(`${what}: ${inst.name} done`);
    } catch (err) {
      toast(`${what} ${inst.name}: ${err.message}`, true);
    }
    setBusy(null);
    onDone();
  };
  const running = inst.status === 'Running';
  return html`<div class="actions">
    ${running
      ? html`<button data-action="stop" disabled=${!!busy} onClick=${act('stop', () => api('PUT', path + '/state', { action: 'stop', timeout: 30 }))}>${busy === 'stop' ? 'Stopping…' : 'Stop'}</button>`
      : html`<button data-action="start" disabled=${!!busy} onClick=${act('start', () => api('PUT', path + '/state', { action: 'start' }))}>${busy === 'start' ? 'Starting…' : 'Start'}</button>`}
    ${!running ? html`<button data-action="delete" disabled=${!!busy} onClick=${(e) => {
      e.stopPropagation();
      if (window.confirm(`Delete ${inst.name} and its snapshots? This cannot be undone.`))
        act('delete', () => api('DELETE', path))(e);
    }}>${busy === 'delete' ? 'Deleting…' : 'Delete'}</button>` : null}
    <button data-action="snapshot" disabled=${!!busy} onClick=${act('snapshot', () => api('POST', path + '/snapshots', { name: 'ui-' + new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14) }))}>${busy === 'snapshot' ? 'Snapshotting…' : 'Snapshot'}</button>
  </div>`;
}

function Snapshots({ inst, tick }) {
  const [state] = useLoad(() => api('GET', `/1.0/instances/${encodeURIComponent(inst.name)}/snapshots`), [inst.name, tick]);
  return html`<${Status} state=${state}>${(list) =>
    !list || !list.length
      ? html`<span class="muted" data-snapshots="0">none</span>`
      : html`<span data-snapshots=${list.length}>${list.map((s) => html`<span class="badge mono">${String(s.name || s).split('/').pop()}</span> `)}</span>`}<//>`;
}

function ExpiryEdit({ inst, onDone, toast }) {
  const [v, setV] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api('PATCH', `/1.0/instances/${encodeURIComponent(inst.name)}`, { expires: v.trim() });
      toast(`Expiry of ${inst.name} set to ${v.trim()}`);
      setV('');
    } catch (err) {
      toast(`Expiry of ${inst.name}: ${err.message}`, true);
    }
    onDone();
  };
  return html`<form class="launch" style="display:inline-flex" onSubmit=${submit}>
    <input id="expiry-input" size="12" placeholder="7d, date, never" value=${v} onInput=${(e) => setV(e.target.value)} />
    <button id="expiry-set" disabled=${!v.trim()}>Set expiry</button>
  </form>`;
}

function InstanceDetail({ inst, advice, onDone, toast, tick }) {
  const mine = (advice || []).filter((a) => a.instance === inst.name);
  const apply = async () => {
    try {
      await api('POST', `/1.0/instances/${encodeURIComponent(inst.name)}/advice/apply`);
      toast(`Applied the advice to ${inst.name}`);
    } catch (err) {
      toast(`Apply advice to ${inst.name}: ${err.message}`, true);
    }
    onDone();
  };
  const cfg = inst.config || {};
  return html`<section class="card" id="detail" data-instance=${inst.name}>
    <h2>${inst.name} <span class=${'badge ' + inst.status}>${inst.status}</span>
      <span class="sub">${inst.type} · image ${String(inst.image || '').slice(0, 12)} · created ${when(inst.created_at)}</span></h2>
    <p>
      Limits: CPU <b id="detail-cpu">${cfg['limits.cpu'] || 'none'}</b>, memory <b id="detail-memory">${cfg['limits.memory'] || 'none'}</b>${' '}
      · Expires: <b data-expiry=${inst.expires_at || ''}>${inst.expires_at === undefined ? '—' : inst.expires_at ? `${when(inst.expires_at)} (${relative(inst.expires_at)})` : 'never'}</b>
      · Owner: ${cfg['user.owner'] || '—'} · Project: ${cfg['user.project'] || '—'} · Purpose: ${cfg['user.purpose'] || '—'}
    </p>
    ${'expires_at' in inst ? html`<p>Change the expiry: <${ExpiryEdit} inst=${inst} onDone=${onDone} toast=${toast} /></p>` : null}
    <p>Snapshots: <${Snapshots} inst=${inst} tick=${tick} /></p>
    ${mine.length
      ? html`<p id="detail-advice">${mine.map((a) => html`<span class="advice-item" data-key=${a.key || ''} data-recommended=${a.recommended || ''}><span class=${'badge ' + a.kind}>${a.kind}</span> ${a.key ? `${a.key}: ${a.current} → ${a.recommended}` : ''} <span class="muted">${a.impact || ''}</span> </span>`)}
          ${mine.some((a) => a.key) ? html`<button id="apply-advice" class="primary" onClick=${apply}>Apply advice</button>` : null}</p>`
      : null}
    <${UsageCharts} inst=${inst} tick=${tick} />
  </section>`;
}

function Instances({ list, selected, select, onDone, toast, usage, policy }) {
  return html`<section class="card">
    <h2>Instances <span class="sub">${list.length} total</span></h2>
    <${Launch} onDone=${onDone} toast=${toast} policy=${policy} />
    <table id="instances">
      <thead><tr><th>Name</th><th>State</th><th>Type</th><th>CPU</th><th>Memory</th><th>Expires</th><th>Owner</th><th></th></tr></thead>
      <tbody>
        ${list.map((i) => {
          const cfg = i.config || {};
          const u = usage[i.name];
          return html`<tr key=${i.name} class=${'row' + (selected === i.name ? ' sel' : '')} data-instance=${i.name} onClick=${() => select(i.name)}>
            <td><b>${i.name}</b></td>
            <td><span class=${'badge state ' + i.status}>${i.status}</span></td>
            <td>${i.type}</td>
            <td>${u && u.samples && u.samples.length
              ? html`<${LimitBar} used=${u.samples[u.samples.length - 1].cpu} limit=${u.limits && u.limits.cpu} fmt=${(v) => (v === undefined || v === null ? '—' : Number(v).toFixed(2))} />`
              : cfg['limits.cpu'] || html`<span class="muted">—</span>`}</td>
            <td>${u && u.samples && u.samples.length
              ? html`<${LimitBar} used=${u.samples[u.samples.length - 1].memory} limit=${u.limits && u.limits.memory} fmt=${bytes} />`
              : cfg['limits.memory'] || html`<span class="muted">—</span>`}</td>
            <td class="expires">${i.expires_at === undefined ? html`<span class="muted">—</span>` : i.expires_at ? relative(i.expires_at) : 'never'}</td>
            <td>${cfg['user.owner'] || html`<span class="muted">—</span>`}</td>
            <td><${InstanceActions} inst=${i} onDone=${onDone} toast=${toast} /></td>
          </tr>`;
        })}
      </tbody>
    </table>
  </section>`;
}

// ---- advice, sprawl, audit ----

function Advice({ state, onApply }) {
  return html`<section class="card" id="advice">
    <h2>Right-sizing advice</h2>
    <${Status} state=${state}>${(list) =>
      !list.length
        ? html`<div class="muted">Nothing to advise: every instance is sized right.</div>`
        : html`<table><thead><tr><th>Instance</th><th>Finding</th><th>Key</th><th>Now</th><th>Recommended</th><th>Why</th><th>Impact</th><th></th></tr></thead>
          <tbody>${list.map((a) => html`<tr data-advice=${a.instance}>
            <td><b>${a.instance}</b></td><td><span class=${'badge ' + a.kind}>${a.kind}</span></td>
            <td class="mono">${a.key || '—'}</td><td>${a.current ?? '—'}</td><td><b>${a.recommended ?? '—'}</b></td>
            <td class="muted">${typeof a.evidence === 'string' ? a.evidence : JSON.stringify(a.evidence)}</td><td>${a.impact || ''}</td>
            <td>${a.key ? html`<button data-apply=${a.instance} onClick=${() => onApply(a.instance)}>Apply</button>` : null}</td></tr>`)}</tbody></table>`}<//>
  </section>`;
}

function Prune({ onDone, toast }) {
  const [plan, setPlan] = useState(null);
  const names = (l) => (l || []).map((x) => (typeof x === 'string' ? x : `${x.kind || ''} ${x.name || ''}`.trim()));
  const dry = async () => {
    try {
      setPlan(await api('POST', '/1.0/prune', { dry_run: true }));
    } catch (err) {
      toast(`Prune (dry run): ${err.message}`, true);
    }
  };
  const run = async () => {
    if (!window.confirm('Remove everything the policies allow to prune?')) return;
    try {
      const r = await api('POST', '/1.0/prune', { dry_run: false });
      toast(`Pruned: ${names(r.removed).join(', ') || 'nothing'}${(r.failed || []).length ? `; ${r.failed.length} failed` : ''}`, (r.failed || []).length > 0);
      setPlan(null);
    } catch (err) {
      toast(`Prune: ${err.message}`, true);
    }
    onDone();
  };
  return html`<span class="actions">
    <button id="prune-dry" onClick=${dry}>Prune (dry run)</button>
    <button id="prune" onClick=${run}>Prune</button>
    ${plan && html`<span id="prune-plan" class="muted">would remove: ${names(plan.removed).join(', ') || 'nothing'}</span>`}
  </span>`;
}

function Sprawl({ state, onDone, toast }) {
  return html`<section class="card" id="sprawl">
    <h2>Sprawl <span class="sub">what holds resources without earning them</span>
      ${state.data ? html`<${Prune} onDone=${onDone} toast=${toast} />` : null}</h2>
    <${Status} state=${state}>${(list) =>
      !list.length
        ? html`<div class="muted">No sprawl: nothing expired, idle or unused.</div>`
        : html`<table><thead><tr><th>Kind</th><th>Name</th><th>Reason</th><th>CPU</th><th>Memory</th><th>Disk</th><th></th></tr></thead>
          <tbody>${list.map((s) => html`<tr>
            <td><span class=${'badge ' + s.kind}>${s.kind}</span></td><td><b>${s.name}</b></td><td>${s.reason}</td>
            <td>${(s.cost && s.cost.cpu) ?? '—'}</td><td>${bytes(s.cost && s.cost.memory)}</td><td>${bytes(s.cost && s.cost.disk)}</td>
            <td>${s.prunable ? html`<span class="badge">prunable</span>` : null}</td></tr>`)}</tbody></table>`}<//>
  </section>`;
}

function Audit() {
  const [state, reload] = useLoad(() => api('GET', '/1.0/audit'), [], 15000);
  const [verify, setVerify] = useState(null);
  const check = async () => {
    try {
      setVerify(await api('GET', '/1.0/audit/verify'));
    } catch (e) {
      setVerify({ error: e.message });
    }
    reload();
  };
  return html`<section class="card" id="audit">
    <h2>Audit trail <span class="sub">every change made through the API, hash-chained</span>
      ${state.data ? html`<button id="verify-btn" onClick=${check}>Verify chain</button>` : null}
      ${verify && (verify.error ? html`<span id="verify" class="error">${verify.error}</span>`
        : verify.ok ? html`<span id="verify" class="badge ok">chain intact</span>` : html`<span id="verify" class="badge bad">broken at #${verify.first_bad}</span>`)}</h2>
    <${Status} state=${state}>${(list) =>
      !list.length
        ? html`<div class="muted">No changes recorded yet.</div>`
        : html`<table><thead><tr><th>#</th><th>Time</th><th>Who</th><th>Request</th><th>Summary</th><th>Status</th></tr></thead>
          <tbody>${list.slice(-200).reverse().map((r) => html`<tr class="audit-row">
            <td>${r.seq}</td><td>${when(r.time)}</td><td class="mono">${String(r.who || '').slice(0, 24)}</td>
            <td class="mono">${r.method} ${r.path}</td><td>${r.summary}</td>
            <td><span class=${'badge ' + (r.status < 400 ? 'ok' : 'bad')}>${r.status}</span></td></tr>`)}</tbody></table>`}<//>
  </section>`;
}

// ---- the page ----

function Login({ onToken }) {
  const [v, setV] = useState('');
  return html`<div class="card login">
    <h2>vessel dashboard</h2>
    <p>This listener needs the token vesseld wrote to <span class="mono">STATE/ui-token</span>
      (as root: <span class="mono">cat /var/lib/vessel/ui-token</span>), or open the UI as
      <span class="mono">/ui/#token=TOKEN</span>.</p>
    <form class="launch" onSubmit=${(e) => { e.preventDefault(); onToken(v.trim()); }}>
      <input id="token" size="48" placeholder="token" value=${v} onInput=${(e) => setV(e.target.value)} />
      <button class="primary">Open</button>
    </form>
  </div>`;
}

function App() {
  const [tab, setTab] = useState('overview');
  const [tick, setTick] = useState(0);
  const [selected, setSelected] = useState(null);
  const [toastMsg, setToast] = useState(null);
  const [needToken, setNeedToken] = useState(false);
  const refresh = () => setTick((t) => t + 1);
  const toast = (msg, err) => {
    setToast({ msg, err });
    setTimeout(() => setToast((t) => (t && t.msg === msg ? null : t)), 5000);
  };
  const [inst] = useLoad(() => api('GET', '/1.0/instances?recursion=1'), [tick], 5000);
  const [advice] = useLoad(() => api('GET', '/1.0/advice'), [tick], 15000);
  const [sprawl] = useLoad(() => api('GET', '/1.0/sprawl'), [tick], 30000);
  const list = inst.data || [];
  // the policy part (expiry at launch) is there when its routes answer
  const policy = !!sprawl.data;
  // the latest hour of usage of each instance, for the table's bars: again
  // when the set of instances changes, after an action, and every 30 s
  const names = list.map((i) => i.name).join(',');
  const [usage, setUsage] = useState({});
  useEffect(() => {
    let stop = false;
    const load = () => Promise.all(
      list.map((i) => api('GET', `/1.0/instances/${encodeURIComponent(i.name)}/usage?window=1h`).then((u) => [i.name, u], () => [i.name, null])),
    ).then((pairs) => !stop && setUsage(Object.fromEntries(pairs)));
    load();
    const t = setInterval(load, 30000);
    return () => { stop = true; clearInterval(t); };
  }, [names, tick]);
  useEffect(() => {
    if (inst.error instanceof NeedToken) setNeedToken(true);
  }, [inst.error]);
  if (needToken)
    return html`<${Login} onToken=${(t) => { sessionStorage.setItem('vessel-token', t); setNeedToken(false); refresh(); }} />`;
  const applyAdvice = async (name) => {
    try {
      await api('POST', `/1.0/instances/${encodeURIComponent(name)}/advice/apply`);
      toast(`Applied the advice to ${name}`);
    } catch (err) {
      toast(`Apply advice to ${name}: ${err.message}`, true);
    }
    refresh();
  };
  const sel = list.find((i) => i.name === selected);
  const running = list.filter((i) => i.status === 'Running').length;
  const tabs = [['overview', 'Overview'], ['advice', 'Advice & sprawl'], ['audit', 'Audit']];
  return html`<div>
    <header class="top"><h1>vessel</h1><span class="host">${location.host}</span>
      <nav>${tabs.map(([k, label]) => html`<a id=${'tab-' + k} class=${tab === k ? 'on' : ''} onClick=${() => setTab(k)}>${label}</a>`)}</nav>
    </header>
    <main>
      ${inst.error && !(inst.error instanceof NeedToken) ? html`<div class="card error">Cannot list instances: ${inst.error.message}</div>` : null}
      ${tab === 'overview' && html`
        <div class="summary">
          <div class="stat"><b id="count-instances">${list.length}</b><span>instances</span></div>
          <div class="stat"><b id="count-running">${running}</b><span>running</span></div>
          <div class="stat"><b>${advice.data ? advice.data.length : '—'}</b><span>advice</span></div>
          <div class="stat"><b>${sprawl.data ? sprawl.data.length : '—'}</b><span>sprawl items</span></div>
        </div>
        <${Instances} list=${list} selected=${selected} select=${setSelected} onDone=${refresh} toast=${toast} usage=${usage} policy=${policy} />
        ${sel ? html`<${InstanceDetail} key=${sel.name} inst=${sel} advice=${advice.data} onDone=${refresh} toast=${toast} tick=${tick} />`
              : html`<div class="card muted">Select an instance to see its usage against its limits, its snapshots and its advice.</div>`}`}
      ${tab === 'advice' && html`<${Advice} state=${advice} onApply=${applyAdvice} /><${Sprawl} state=${sprawl} onDone=${refresh} toast=${toast} />`}
      ${tab === 'audit' && html`<${Audit} />`}
    </main>
    ${toastMsg && html`<div id="toast" class=${'toast' + (toastMsg.err ? ' err' : '')}>${toastMsg.msg}</div>`}
  </div>`;
}

// the token from the URL's fragment (never sent to the server), then out of
// the address bar
const m = location.hash.match(/token=([0-9a-f]+)/);
if (m) {
  sessionStorage.setItem('vessel-token', m[1]);
  history.replaceState(null, '', location.pathname + location.search);
}
const root = document.getElementById('app');
root.textContent = ''; // the "Loading" placeholder
render(html`<${App} />`, root);
