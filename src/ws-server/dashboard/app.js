// livescan dashboard: the eleven lists over the ws-server's client protocol (/ws), and the
// services' status from /status. Plain DOM, no framework, no build step. Everything a server or
// a status key says is rendered with textContent, never as HTML.
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

  const lists = new Map();
  const live = new Map(); // symbol -> { price, time, at }
  const priceCells = new Map(); // symbol -> Set<td>
  const stats = { gaps: 0, resyncs: 0, snapshots: 0, deltas: 0, aggregates: 0, errors: 0, reconnects: 0 };
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
      for (const [label, cls] of [['#', ''], ['Symbol', 'sym'], ['Price', ''], ['Chg %', ''], ['Volume', ''], ['RVOL', '']]) {
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
    const frag = document.createDocumentFragment();
    if (l.rows.length === 0) {
      const tr = el('tr');
      const td = el('td', 'empty', 'empty');
      td.colSpan = 6;
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

  function onAggregate(m) {
    if (typeof m.symbol !== 'string' || typeof m.price !== 'number') return;
    stats.aggregates++;
    live.set(m.symbol, { price: m.price, time: m.time, at: Date.now() });
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
      send({ action: 'subscribe', lists: LISTS });
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
      if (parts.length === 0) return 'none';
      const s = parts.join(' · ');
      return s.length > 120 ? `${s.slice(0, 120)}…` : s;
    }
    return String(v);
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
    const updated = Date.parse(status.updated_at);
    if (Number.isFinite(updated) && now - updated > STALE_MS) {
      c.classList.add('stale');
      h.append(el('span', 'pill warn', 'stale'));
      issues.push(`${title}: stale`);
    }
    c.append(h);
    const dl = el('dl');
    let converging = false;
    for (const [k, v] of Object.entries(status).flatMap(([k0, v0]) => fieldRows(k0, v0))) {
      if (k === 'role' || k === 'state') continue;
      dl.append(el('dt', '', k));
      const dd = el('dd', '', fieldText(k, v, now));
      dd.dataset.field = k;
      // The share of the SET served now, and over time: what a desk feels as live prices.
      if (k === 'coverage' && typeof v === 'number' && v < 1) dd.className = v < 0.9 ? 'bad' : 'warn';
      if (k === 'availability' && typeof v === 'number' && v < 0.97) dd.className = 'warn';
      if (k === 'gap' && typeof v === 'number' && v > 0) {
        dd.className = v > 2 ? 'bad' : 'warn';
        if (v > 2) issues.push(`${title}: gap ${v}`);
        else converging = true;
      }
      dl.append(dd);
    }
    c.append(dl);
    return { node: c, issues, converging };
  }

  function renderStatus() {
    const strip = $('status-strip');
    if (!strip) return;
    const now = lastStatus && Date.parse(lastStatus.now) ? Date.parse(lastStatus.now) : Date.now();
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

  async function pollStatus() {
    try {
      const res = await fetch('/status', { cache: 'no-store' });
      lastStatus = await res.json();
    } catch {
      lastStatus = null;
    }
    renderStatus();
  }

  // ---- start -----------------------------------------------------------------------------

  buildPanels();
  scheduleRender();
  connect();
  void pollStatus();
  setInterval(pollStatus, STATUS_EVERY_MS);
  setInterval(() => {
    $('clock').textContent = new Date().toLocaleTimeString();
    // A resync that got no answer is asked again.
    for (const l of lists.values()) if (!l.known && l.resyncAt && Date.now() - l.resyncAt >= RESYNC_RETRY_MS) requestResync(l);
  }, 1000);

  // For operators' consoles and the browser test.
  window.livescan = { lists, live, stats, handleMessage, send, get linkState() { return wsState; } };
})();
