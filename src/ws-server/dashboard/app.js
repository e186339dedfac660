// livescan dashboard: the eleven lists over the ws-server's client protocol (/ws), with a price
// line per row; the services' status from /status, with the timeline of the heart (desired versus
// acknowledged, reconnects and close causes, availability; drawn with uPlot) and each statechart's
// live state lit up on its generated diagram. Plain DOM, no framework, no build step. Everything
// a server or a status key says is rendered with textContent, never as HTML.
'use strict';

(() => {
  const LISTS = [
    'gappers_up', 'gappers_down', 'momentum_up', 'momentum_down', 'winners', 'losers',
    'high_volume', 'new_highs', 'new_lows', 'anomalies', 'reversals',
  ];
  const STATUS_ROLES = ['polygon-ws', 'scanner', 'ws-server'];
  // Status fields that are shares in [0, 1]: shown as percentages.
  const RATIO_FIELDS = new Set(['coverage', 'availability']);
  const STALE_MS = 15000;
  const STATUS_EVERY_MS = 2000;
  const RESYNC_RETRY_MS = 5000;
  const LIVE_PRICE_MS = 60000;
  const SPARK_POINTS = 60;
  const SPARK_W = 64;
  const SPARK_H = 16;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const lists = new Map();
  const live = new Map(); // symbol -> { price, time, at }
  const priceCells = new Map(); // symbol -> Set<td>
  const spark = new Map(); // symbol -> recent live prices, oldest first
  const sparkLines = new Map(); // symbol -> Set<svg>
  const stats = { gaps: 0, resyncs: 0, snapshots: 0, deltas: 0, aggregates: 0, batches: 0, errors: 0, reconnects: 0 };
  let ws = null;
  let wsState = 'connecting';
  let retry = 0;
  let lastStatus = null;
  let renderQueued = false;

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- lists ----------------------------------------------------------------------------

  function title(name) {
    return name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  }

  function buildPanels() {
    const root = $('lists');
    for (const name of LISTS) {
      const panel = el('section', 'panel');
      panel.id = `list-${name}`;
      panel.dataset.list = name;
      const head = el('header');
      head.append(el('h3', '', title(name)));
      const meta = el('span', 'meta', '—');
      meta.dataset.role = 'meta';
      head.append(meta);
      const scroll = el('div', 'scroll');
      const table = el('table');
      const thead = el('thead');
      const tr = el('tr');
      for (const [label, cls] of [['#', ''], ['Symbol', 'sym'], ['Price', ''], ['Trend', 'trend'], ['Chg %', ''], ['Volume', ''], ['RVOL', '']]) {
        tr.append(el('th', cls, label));
      }
      thead.append(tr);
      const tbody = el('tbody');
      table.append(thead, tbody);
      scroll.append(table);
      panel.append(head, scroll);
      root.append(panel);
      lists.set(name, { name, seq: 0, known: false, rows: [], panel, meta, tbody, dirty: true, resyncAt: 0 });
    }
  }

  function rankOf(row) {
    return typeof row.rank === 'number' && Number.isFinite(row.rank) ? row.rank : Infinity;
  }

  // The same rules as the server's list store (src/ws-server/list-store.ts applyDeltaItems).
  function applyDeltas(rows, deltas) {
    const bySymbol = new Map();
    for (const r of rows) bySymbol.set(r.symbol, r);
    for (const d of deltas) {
      if (!d || typeof d.symbol !== 'string') continue;
      const s = d.symbol;
      if (d.action === 'add') {
        const row = Object.assign({ symbol: s }, d.data || {});
        row.symbol = s;
        if (row.rank === undefined && typeof d.rank === 'number') row.rank = d.rank;
        bySymbol.set(s, row);
      } else if (d.action === 'update') {
        const row = Object.assign({}, bySymbol.get(s) || { symbol: s }, d.data || {});
        row.symbol = s;
        if ((!d.data || d.data.rank === undefined) && typeof d.rank === 'number') row.rank = d.rank;
        bySymbol.set(s, row);
      } else if (d.action === 'remove') {
        bySymbol.delete(s);
      } else if (d.action === 'rerank') {
        const old = bySymbol.get(s);
        if (old && typeof d.new_rank === 'number') bySymbol.set(s, Object.assign({}, old, { rank: d.new_rank }));
      }
    }
    return [...bySymbol.values()].sort((a, b) => rankOf(a) - rankOf(b) || 0);
  }

  function num(v, digits) {
    return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
  }

  function compact(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
    const a = Math.abs(v);
    if (a >= 1e9) return `${(v / 1e9).toFixed(2)}B`;
    if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
    if (a >= 1e3) return `${(v / 1e3).toFixed(1)}K`;
    return String(Math.round(v));
  }

  function priceText(p) {
    if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
    return p < 1 ? p.toFixed(4) : p.toFixed(2);
  }

  function displayedPrice(row) {
    const l = live.get(row.symbol);
    if (l && Date.now() - l.at < LIVE_PRICE_MS) return l.price;
    return row.price;
  }

  function renderList(l) {
    l.dirty = false;
    l.meta.textContent = `${l.rows.length} rows · seq ${l.seq}${l.known ? '' : ' · resyncing'}`;
    l.panel.classList.toggle('resyncing', !l.known);
    for (const r of l.tbody.querySelectorAll('td.price')) {
      const set = priceCells.get(r.dataset.symbol);
      if (set) set.delete(r);
    }
    for (const svg of l.tbody.querySelectorAll('svg.spark')) {
      const set = sparkLines.get(svg.dataset.symbol);
      if (set) set.delete(svg);
    }
    const frag = document.createDocumentFragment();
    if (l.rows.length === 0) {
      const tr = el('tr');
      const td = el('td', 'empty', 'empty');
      td.colSpan = 7;
      tr.append(td);
      frag.append(tr);
    }
    l.rows.forEach((row, i) => {
      const tr = el('tr');
      tr.dataset.symbol = row.symbol;
      tr.append(el('td', 'rank', typeof row.rank === 'number' ? String(row.rank) : String(i + 1)));
      tr.append(el('td', 'sym', row.symbol));
      const p = displayedPrice(row);
      const price = el('td', 'price', priceText(p));
      price.dataset.symbol = row.symbol;
      price.dataset.price = String(p);
      let set = priceCells.get(row.symbol);
      if (!set) priceCells.set(row.symbol, (set = new Set()));
      set.add(price);
      tr.append(price);
      const trend = el('td', 'trend');
      trend.append(sparkline(row.symbol));
      tr.append(trend);
      const chg = row.change_percent;
      const c = el('td', typeof chg === 'number' ? (chg >= 0 ? 'pos' : 'neg') : '', typeof chg === 'number' ? `${chg >= 0 ? '+' : ''}${chg.toFixed(2)}` : '—');
      tr.append(c);
      tr.append(el('td', '', compact(row.volume)));
      tr.append(el('td', '', num(row.rvol, 2)));
      frag.append(tr);
    });
    l.tbody.replaceChildren(frag);
  }

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      for (const l of lists.values()) if (l.dirty) renderList(l);
    });
  }

  // ---- price lines ---------------------------------------------------------------------

  function sparkline(symbol) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`);
    svg.setAttribute('width', String(SPARK_W));
    svg.setAttribute('height', String(SPARK_H));
    svg.setAttribute('aria-hidden', 'true');
    svg.dataset.symbol = symbol;
    svg.append(document.createElementNS(SVG_NS, 'polyline'));
    drawSpark(svg, spark.get(symbol));
    let set = sparkLines.get(symbol);
    if (!set) sparkLines.set(symbol, (set = new Set()));
    set.add(svg);
    return svg;
  }

  function drawSpark(svg, prices) {
    const line = svg.firstChild;
    if (!prices || prices.length < 2) {
      line.setAttribute('points', '');
      svg.dataset.points = '0';
      return;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of prices) {
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    const span = hi - lo;
    const step = SPARK_W / (SPARK_POINTS - 1);
    const x0 = SPARK_W - step * (prices.length - 1);
    const pts = prices.map((p, i) => {
      const y = span > 0 ? 1 + (SPARK_H - 2) * (1 - (p - lo) / span) : SPARK_H / 2;
      return `${(x0 + i * step).toFixed(1)},${y.toFixed(1)}`;
    });
    line.setAttribute('points', pts.join(' '));
    svg.dataset.points = String(prices.length);
    svg.setAttribute('class', `spark ${prices[prices.length - 1] >= prices[0] ? 'up' : 'down'}`);
  }

  function onAggregate(m) {
    if (typeof m.symbol !== 'string' || typeof m.price !== 'number' || !Number.isFinite(m.price)) return;
    stats.aggregates++;
    live.set(m.symbol, { price: m.price, time: m.time, at: Date.now() });
    let hist = spark.get(m.symbol);
    if (!hist) spark.set(m.symbol, (hist = []));
    hist.push(m.price);
    if (hist.length > SPARK_POINTS) hist.splice(0, hist.length - SPARK_POINTS);
    const lines = sparkLines.get(m.symbol);
    if (lines) for (const svg of lines) drawSpark(svg, hist);
    const cells = priceCells.get(m.symbol);
    if (!cells) return;
    for (const cell of cells) {
      const before = Number(cell.dataset.price);
      if (before === m.price) continue;
      const dir = Number.isFinite(before) && m.price < before ? 'down' : 'up';
      cell.textContent = priceText(m.price);
      cell.dataset.price = String(m.price);
      cell.dataset.dir = dir;
      cell.classList.remove('flash-up', 'flash-down');
      void cell.offsetWidth; // restart the animation
      cell.classList.add(dir === 'up' ? 'flash-up' : 'flash-down');
    }
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  function requestResync(l) {
    l.known = false;
    l.dirty = true;
    const now = Date.now();
    if (now - l.resyncAt < RESYNC_RETRY_MS) return;
    l.resyncAt = now;
    stats.resyncs++;
    send({ action: 'resync', list: l.name });
  }

  function handleMessage(m) {
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'snapshot': {
        const l = lists.get(m.list);
        if (!l || !Array.isArray(m.rows)) return;
        stats.snapshots++;
        l.rows = m.rows.slice();
        l.seq = m.sequence;
        l.known = true;
        l.resyncAt = 0;
        l.dirty = true;
        break;
      }
      case 'delta': {
        const l = lists.get(m.list);
        if (!l || !Array.isArray(m.deltas)) return;
        if (!l.known || m.sequence !== l.seq + 1) {
          // Anything but the next delta: this copy can no longer be trusted.
          if (l.known) stats.gaps++;
          requestResync(l);
          break;
        }
        stats.deltas++;
        l.rows = applyDeltas(l.rows, m.deltas);
        l.seq = m.sequence;
        l.dirty = true;
        break;
      }
      case 'aggregate':
        onAggregate(m);
        return;
      case 'aggregates':
        // Batched (we subscribe with batch: true): the prices of one upstream tick.
        if (!Array.isArray(m.items)) return;
        stats.batches++;
        for (const item of m.items) if (item && typeof item === 'object') onAggregate(item);
        return;
      case 'error':
        stats.errors++;
        showError(String(m.message));
        return;
      default:
        return;
    }
    scheduleRender();
  }

  function showError(text) {
    const box = $('errors');
    box.hidden = false;
    box.textContent = `server: ${text}`;
  }

  function connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    setLink('connecting');
    ws = new WebSocket(url);
    ws.onopen = () => {
      retry = 0;
      setLink('live');
      for (const l of lists.values()) l.known = false;
      send({ action: 'subscribe', lists: LISTS, batch: true });
    };
    ws.onmessage = (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      handleMessage(m);
    };
    ws.onclose = (e) => {
      stats.reconnects++;
      setLink(`reconnecting (close ${e.code})`);
      const delay = Math.min(10000, 500 * 2 ** retry++);
      setTimeout(connect, delay);
    };
  }

  function setLink(state) {
    wsState = state;
    renderStatus();
  }

  // ---- status strip ----------------------------------------------------------------------

  const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;
  // Fields drawn elsewhere on the page (the diagrams), not in a card.
  const HIDDEN_FIELDS = new Set(['role', 'state', 'machines']);

  function ageText(ms) {
    if (!Number.isFinite(ms)) return '';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.round(s / 60)}m ago`;
    return `${Math.round(s / 3600)}h ago`;
  }

  function fieldText(key, v, now) {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'string' && ISO_RE.test(v)) {
      const t = Date.parse(v);
      return `${new Date(t).toLocaleTimeString()} (${ageText(now - t)})`;
    }
    if (typeof v === 'number' && RATIO_FIELDS.has(key)) return `${(Math.floor(v * 1000) / 10).toFixed(1)} %`;
    if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString() : String(Math.round(v * 1000) / 1000);
    if (typeof v === 'object') {
      const parts = Array.isArray(v) ? v.map((x) => fieldText('', x, now)) : Object.entries(v).map(([k2, v2]) => `${k2} ${fieldText(k2, v2, now)}`);
      return parts.length === 0 ? 'none' : parts.join(' · ');
    }
    return String(v);
  }

  // An object's entries as wrapping "key value" chips: every figure stays readable, none is cut.
  function fieldNode(key, v, now) {
    const dd = el('dd');
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      dd.className = 'kv';
      for (const [k2, v2] of Object.entries(v)) {
        const chip = el('span', 'chip');
        chip.append(el('span', 'k', k2), el('span', 'v', fieldText(k2, v2, now)));
        dd.append(chip);
      }
      return dd;
    }
    dd.textContent = fieldText(key, v, now);
    return dd;
  }

  // A field holding one object per item (e.g. streams) gets one line per item.
  function fieldRows(k, v) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v);
      if (entries.length > 0 && entries.every(([, x]) => x && typeof x === 'object' && !Array.isArray(x))) {
        return entries.map(([k2, x]) => [`${k} ${k2}`, x]);
      }
    }
    return [[k, v]];
  }

  function stateClass(state) {
    const s = String(state || '').toLowerCase();
    if (['live', 'ok', 'connected', 'running', 'authenticated', 'subscribed', 'idle', 'scanning'].includes(s)) return 'good';
    if (/connect|recover|start|degrad|backoff|wait|converg|pending/.test(s)) return 'warn';
    return 'bad';
  }

  function isStale(status, now) {
    const updated = status && typeof status === 'object' ? Date.parse(status.updated_at) : NaN;
    return Number.isFinite(updated) && now - updated > STALE_MS;
  }

  function card(title, status, now) {
    const c = el('div', 'card');
    c.dataset.role = title;
    const h = el('h2');
    h.append(el('span', '', title));
    const issues = [];
    if (!status || typeof status !== 'object') {
      c.classList.add('missing');
      h.append(el('span', 'pill bad', 'no status'));
      c.append(h);
      issues.push(`${title}: no status`);
      return { node: c, issues, converging: false };
    }
    const state = status.state;
    h.append(el('span', `pill ${stateClass(state)}`, state === undefined ? '?' : String(state)));
    if (stateClass(state) !== 'good') issues.push(`${title}: ${state}`);
    if (isStale(status, now)) {
      c.classList.add('stale');
      h.append(el('span', 'pill warn', 'stale'));
      issues.push(`${title}: stale`);
    }
    c.append(h);
    const dl = el('dl');
    let converging = false;
    for (const [k, v] of Object.entries(status).filter(([k0]) => !HIDDEN_FIELDS.has(k0)).flatMap(([k0, v0]) => fieldRows(k0, v0))) {
      const dt = el('dt', '', k);
      dl.append(dt);
      const dd = fieldNode(k, v, now);
      dd.dataset.field = k;
      // An object's entries get the card's whole width, under their name.
      if (dd.classList.contains('kv')) dt.className = 'wide';
      // The share of the SET served now, and over time: what a desk feels as live prices.
      if (k === 'coverage' && typeof v === 'number' && v < 1) dd.classList.add(v < 0.9 ? 'bad' : 'warn');
      if (k === 'availability' && typeof v === 'number' && v < 0.97) dd.classList.add('warn');
      if (k === 'gap' && typeof v === 'number' && v > 0) {
        dd.classList.add(v > 2 ? 'bad' : 'warn');
        if (v > 2) issues.push(`${title}: gap ${v}`);
        else converging = true;
      }
      dl.append(dd);
    }
    c.append(dl);
    return { node: c, issues, converging };
  }

  function statusNow() {
    return lastStatus && Date.parse(lastStatus.now) ? Date.parse(lastStatus.now) : Date.now();
  }

  function renderStatus() {
    const strip = $('status-strip');
    if (!strip) return;
    const now = statusNow();
    const nodes = [];
    const issues = [];
    let converging = false;
    const link = {
      state: wsState,
      lists_in_sync: [...lists.values()].filter((l) => l.known).length,
      gaps_seen: stats.gaps,
      resyncs: stats.resyncs,
      updates: stats.deltas,
      prices: stats.aggregates,
      price_batches: stats.batches,
      updated_at: new Date().toISOString(),
    };
    const b = card('browser', link, Date.now());
    nodes.push(b.node);
    issues.push(...b.issues);
    if (lastStatus && lastStatus.redis === 'down') issues.push('redis: down');
    for (const role of STATUS_ROLES) {
      const r = card(role, lastStatus ? lastStatus.services[role] : null, now);
      nodes.push(r.node);
      issues.push(...r.issues);
      converging = converging || r.converging;
    }
    strip.replaceChildren(...nodes);
    const summary = $('summary');
    if (issues.length) {
      summary.className = 'summary bad';
      summary.textContent = `attention: ${issues.join(' · ')}`;
    } else if (converging) {
      summary.className = 'summary warn';
      summary.textContent = 'converging';
    } else {
      summary.className = 'summary good';
      summary.textContent = 'all in sync';
    }
  }

  // ---- simulated prices ------------------------------------------------------------------

  function renderBanner() {
    const services = lastStatus ? lastStatus.services : null;
    const pws = services && services['polygon-ws'];
    const scanner = services && services.scanner;
    const reasons = [];
    if (pws && pws.upstream === 'simulator') reasons.push('live prices come from livescan\u2019s Polygon simulator (no POLYGON_API_KEY)');
    if (scanner && scanner.source === 'simulated') reasons.push('the ranked market is simulated');
    const banner = $('sim-banner');
    banner.hidden = reasons.length === 0;
    banner.textContent = reasons.length ? `Simulated prices, not real quotes: ${reasons.join('; ')}.` : '';
    document.body.classList.toggle('simulated', reasons.length > 0);
  }

  // ---- timeline of the heart -------------------------------------------------------------

  const HEART_WINDOW_MS = 15 * 60 * 1000;
  const heart = { samples: [], marks: [], plot: null, drawn: 0 };

  function mergeSamples(incoming) {
    if (!Array.isArray(incoming)) return;
    const byT = new Map(heart.samples.map((s) => [s.t, s]));
    for (const s of incoming) if (s && Number.isFinite(s.t)) byT.set(s.t, s);
    const cutoff = Date.now() - HEART_WINDOW_MS;
    heart.samples = [...byT.values()].filter((s) => s.t >= cutoff).sort((a, b) => a.t - b.t);
  }

  // Where the lifetime counters grew between two samples: a reconnect, and the causes of its closes.
  function marksOf(samples) {
    const marks = [];
    let prev = null;
    for (const s of samples) {
      if (s.reconnections === null || s.reconnections === undefined) continue;
      if (prev) {
        if (s.reconnections < prev.reconnections) {
          marks.push({ t: s.t, count: 0, causes: {}, restart: true });
        } else if (s.reconnections > prev.reconnections) {
          const causes = {};
          for (const [c, n] of Object.entries(s.closes_by_cause || {})) {
            const d = n - ((prev.closes_by_cause || {})[c] || 0);
            if (d > 0) causes[c] = d;
          }
          marks.push({ t: s.t, count: s.reconnections - prev.reconnections, causes });
        }
      }
      prev = s;
    }
    return marks;
  }

  function markText(m) {
    if (m.restart) return 'polygon-ws restarted (counters reset)';
    const causes = Object.entries(m.causes).map(([c, n]) => (n > 1 ? `${c} ×${n}` : c));
    return `${m.count} reconnect${m.count > 1 ? 's' : ''}${causes.length ? `: ${causes.join(', ')}` : ''}`;
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Spans where polygon-ws was not live (amber) or said nothing at all (grey), behind the lines.
  function drawBands(u) {
    const { ctx, bbox } = u;
    const xs = u.data[0];
    ctx.save();
    for (let i = 0; i < heart.samples.length; i++) {
      const s = heart.samples[i];
      if (s.state === 'live') continue;
      const x0 = u.valToPos(xs[i], 'x', true);
      const x1 = i + 1 < xs.length ? u.valToPos(xs[i + 1], 'x', true) : bbox.left + bbox.width;
      ctx.fillStyle = s.state === null ? 'rgba(138,149,163,.18)' : 'rgba(210,153,34,.16)';
      ctx.fillRect(x0, bbox.top, Math.max(1, x1 - x0), bbox.height);
    }
    ctx.restore();
  }

  function drawMarks(u) {
    const { ctx, bbox } = u;
    const dpr = window.devicePixelRatio || 1;
    ctx.save();
    ctx.font = `${Math.round(10 * dpr)}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    for (const m of heart.marks) {
      const x = u.valToPos(m.t / 1000, 'x', true);
      if (x < bbox.left || x > bbox.left + bbox.width) continue;
      ctx.strokeStyle = m.restart ? cssVar('--muted') : cssVar('--bad');
      ctx.fillStyle = ctx.strokeStyle;
      ctx.lineWidth = dpr;
      ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      const label = m.restart ? 'restart' : Object.keys(m.causes).join(',') || 'reconnect';
      ctx.fillText(label, x + 3 * dpr, bbox.top + 2 * dpr);
    }
    ctx.restore();
    heart.drawn++;
  }

  function heartData() {
    const xs = [];
    const desired = [];
    const acked = [];
    const avail = [];
    for (const s of heart.samples) {
      xs.push(s.t / 1000);
      desired.push(typeof s.desired === 'number' ? s.desired : null);
      acked.push(typeof s.acknowledged === 'number' ? s.acknowledged : null);
      avail.push(typeof s.availability === 'number' ? Math.round(s.availability * 1000) / 10 : null);
    }
    return [xs, desired, acked, avail];
  }

  function makePlot(box) {
    const muted = cssVar('--muted');
    const grid = cssVar('--line');
    const axis = (extra) => Object.assign({ stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } }, extra);
    return new uPlot(
      {
        width: Math.max(300, box.clientWidth),
        height: 190,
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          n: { range: (u, lo, hi) => [0, Math.max(5, Math.ceil((hi || 0) * 1.15))] },
          pct: { range: [0, 100] },
        },
        axes: [
          axis({}),
          axis({ scale: 'n', label: 'symbols', labelSize: 14, size: 44 }),
          axis({ scale: 'pct', side: 1, grid: { show: false }, size: 44, values: (u, vals) => vals.map((v) => `${v}%`) }),
        ],
        series: [
          {},
          { label: 'desired (SET)', scale: 'n', stroke: cssVar('--warn'), width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
          { label: 'acknowledged', scale: 'n', stroke: cssVar('--good'), fill: 'rgba(46,160,67,.12)', width: 2, points: { show: false } },
          { label: 'availability', scale: 'pct', stroke: cssVar('--accent'), width: 1, dash: [5, 4], points: { show: false }, value: (u, v) => (v === null ? '—' : `${v.toFixed(1)}%`) },
        ],
        hooks: { drawClear: [drawBands], draw: [drawMarks] },
      },
      heartData(),
      box,
    );
  }

  function renderHeart() {
    const pws = lastStatus ? lastStatus.services['polygon-ws'] : null;
    heart.marks = marksOf(heart.samples);
    const availability = pws && typeof pws.availability === 'number' ? pws.availability : null;
    const availNode = $('heart-availability');
    availNode.textContent = `availability ${availability === null ? '—' : fieldText('availability', availability)}`;
    availNode.className = `heart-figure ${availability === null ? '' : availability >= 0.97 ? 'good' : 'warn'}`;
    const rec = pws && typeof pws.reconnections === 'number' ? pws.reconnections : null;
    $('heart-reconnects').textContent = `reconnects ${rec === null ? '—' : rec}${pws && pws.close_1008_count ? ` · 1008 ×${pws.close_1008_count}` : ''}`;

    const list = $('heart-marks');
    const items = heart.marks.slice(-6).reverse().map((m) => {
      const li = el('li', m.restart ? 'restart' : 'close');
      li.append(el('time', '', new Date(m.t).toLocaleTimeString()), el('span', '', markText(m)));
      return li;
    });
    if (items.length === 0) items.push(el('li', 'none', heart.samples.length ? 'no reconnect in this window' : 'waiting for polygon-ws\u2019s status…'));
    list.replaceChildren(...items);

    const box = $('heart-chart');
    if (typeof uPlot !== 'function') {
      box.textContent = 'chart library not loaded (/vendor/uPlot.iife.min.js)';
      return;
    }
    if (!heart.plot) heart.plot = makePlot(box);
    else heart.plot.setData(heartData());
  }

  window.addEventListener('resize', () => {
    if (heart.plot) heart.plot.setSize({ width: Math.max(300, $('heart-chart').clientWidth), height: 190 });
  });

  // ---- statecharts, live -----------------------------------------------------------------

  const machines = { diagrams: new Map(), selected: null, loaded: false };

  // `{ open: { phase: 'live' } }` -> ['open', 'open.phase', 'open.phase.live']: every active node.
  function activePaths(value, prefix) {
    if (typeof value === 'string') return [prefix + value];
    if (!value || typeof value !== 'object') return [];
    return Object.entries(value).flatMap(([k, v]) => [prefix + k, ...activePaths(v, `${prefix}${k}.`)]);
  }

  function leafPaths(value, prefix) {
    if (typeof value === 'string') return [prefix + value];
    if (!value || typeof value !== 'object') return [];
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, `${prefix}${k}.`));
  }

  function selectDiagram(name) {
    machines.selected = name;
    for (const d of machines.diagrams.values()) {
      d.panel.hidden = d.name !== name;
      d.tab.setAttribute('aria-selected', String(d.name === name));
    }
  }

  async function loadDiagrams() {
    let index;
    try {
      const res = await fetch('/diagrams/index.json');
      index = await res.json();
    } catch {
      $('machine-diagrams').textContent = 'diagrams not available';
      return;
    }
    const tabs = $('machine-tabs');
    const box = $('machine-diagrams');
    for (const entry of index) {
      let svgText;
      try {
        svgText = await (await fetch(entry.url)).text();
      } catch {
        continue;
      }
      const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
      const svg = doc.documentElement;
      if (!svg || svg.nodeName !== 'svg') continue;
      // As wide as the card allows, never blown up past the diagram's own size.
      const natural = Number(svg.getAttribute('width'));
      svg.removeAttribute('width');
      svg.removeAttribute('height');
      svg.setAttribute('class', 'diagram');
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-label', `${entry.name} statechart`);
      const panel = el('figure', 'machine');
      panel.dataset.machine = entry.machine;
      panel.dataset.name = entry.name;
      const caption = el('figcaption');
      const now = el('span', 'machine-now', '—');
      caption.append(el('span', 'machine-desc', entry.description), now);
      const drawn = document.importNode(svg, true);
      if (Number.isFinite(natural) && natural > 0) drawn.style.maxWidth = `${Math.round(natural)}px`;
      panel.append(caption, drawn);
      const tab = el('button', 'machine-tab');
      tab.type = 'button';
      tab.dataset.name = entry.name;
      const tabState = el('span', 'pill', '—');
      tab.append(el('span', '', entry.name), tabState);
      tab.addEventListener('click', () => selectDiagram(entry.name));
      tabs.append(tab);
      box.append(panel);
      machines.diagrams.set(entry.name, { name: entry.name, machine: entry.machine, panel, tab, tabState, now, svg: panel.querySelector('svg') });
    }
    machines.loaded = true;
    const first = machines.diagrams.has('connection') ? 'connection' : [...machines.diagrams.keys()][0];
    if (first) selectDiagram(first);
    renderMachines();
  }

  /** Every machine state the services published, with whether the document carrying it is stale. */
  function publishedStates() {
    const out = new Map();
    if (!lastStatus) return out;
    const now = statusNow();
    for (const role of STATUS_ROLES) {
      const doc = lastStatus.services[role];
      if (!doc || typeof doc !== 'object' || !doc.machines || typeof doc.machines !== 'object') continue;
      for (const [id, st] of Object.entries(doc.machines)) {
        if (st && typeof st === 'object' && !out.has(id)) out.set(id, { ...st, stale: isStale(doc, now), role });
      }
    }
    return out;
  }

  function renderMachines() {
    if (!machines.loaded) return;
    const states = publishedStates();
    for (const d of machines.diagrams.values()) {
      const st = states.get(d.machine);
      const active = new Set(st ? activePaths(st.value, '') : []);
      for (const g of d.svg.querySelectorAll('[data-state]')) g.classList.toggle('active', active.has(g.getAttribute('data-state')));
      d.panel.classList.toggle('stale', Boolean(st && st.stale));
      d.panel.classList.toggle('unknown', !st);
      if (st) {
        const leaves = leafPaths(st.value, '');
        const first = leaves[0] || '?';
        d.tabState.textContent = first.split('.').pop();
        d.tabState.className = `pill ${st.stale ? 'warn' : 'good'}`;
        d.now.textContent = `now: ${leaves.join(' · ')} · since ${fieldText('since', st.since, Date.now())}${st.stale ? ' · stale' : ''}`;
      } else {
        d.tabState.textContent = 'not running';
        d.tabState.className = 'pill';
        d.now.textContent = 'no live state published: states come with the status of the process leading polygon-ws, and this machine is not running there';
      }
    }
  }

  // ---- polling ---------------------------------------------------------------------------

  async function pollStatus() {
    try {
      const res = await fetch('/status', { cache: 'no-store' });
      lastStatus = await res.json();
    } catch {
      lastStatus = null;
    }
    if (lastStatus) mergeSamples(lastStatus.history);
    renderStatus();
    renderBanner();
    renderHeart();
    renderMachines();
  }

  // ---- start -----------------------------------------------------------------------------

  buildPanels();
  scheduleRender();
  connect();
  void loadDiagrams();
  void pollStatus();
  setInterval(pollStatus, STATUS_EVERY_MS);
  setInterval(() => {
    $('clock').textContent = new Date().toLocaleTimeString();
    // A resync that got no answer is asked again.
    for (const l of lists.values()) if (!l.known && l.resyncAt && Date.now() - l.resyncAt >= RESYNC_RETRY_MS) requestResync(l);
  }, 1000);

  // For operators' consoles and the browser test.
  window.livescan = { lists, live, spark, stats, heart, machines, handleMessage, send, get linkState() { return wsState; } };
})();
