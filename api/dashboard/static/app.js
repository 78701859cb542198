// ctr-engine live dashboard: one WebSocket to /monitoring/stream (JSON frames),
// uPlot charts per model, reconnects with backoff, says when the server is
// unreachable. Plain browser JavaScript, no build step.
(function () {
  'use strict';

  var MAX_POINTS = 600;
  var MODEL_COLORS = ['#2f6fdb', '#d9480f', '#0f9d76', '#8e44ad', '#c2185b', '#5d6d7e', '#b7950b', '#16a085'];
  var STAGES = [
    { key: 'end_to_end', label: 'e2e', color: '#2f6fdb' },
    { key: 'inference', label: 'inference', color: '#0f9d76' },
    { key: 'queue_wait', label: 'queue', color: '#d98a00' },
  ];
  var BACKOFF_MIN_MS = 500, BACKOFF_MAX_MS = 10000;

  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  var state = {
    ws: null,
    conn: 'connecting',
    attempt: 0,
    retryAt: 0,
    downSince: null,
    hello: null,
    lastFrameAt: 0,
    lastSnapshot: null,
    prevTotals: {},   // model → { t, total }
    models: {},       // model → view
    modelNames: [],
    ab: null,         // { chart, xs, shares: [[]...] }
    events: [],
    hellos: 0,
  };

  // ── connection ───────────────────────────────────────────────────────────
  function streamUrl() {
    var page = new URLSearchParams(location.search);
    var q = new URLSearchParams();
    q.set('format', 'json');
    if (page.get('interval')) q.set('interval', page.get('interval'));
    if (page.get('models')) q.set('models', page.get('models'));
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/monitoring/stream?' + q.toString();
  }

  function connect() {
    setConn('connecting');
    var ws;
    try {
      ws = new WebSocket(streamUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    ws.onmessage = function (ev) {
      if (state.ws !== ws) return;
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      state.lastFrameAt = Date.now();
      if (frame.type === 'hello') onHello(frame);
      else if (frame.type === 'snapshot') onSnapshot(frame);
      else if (frame.type === 'alert') onAlert(frame);
      else if (frame.type === 'settings') onSettings(frame);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows and handles it */ };
  }

  function scheduleReconnect() {
    state.attempt++;
    if (state.downSince === null) state.downSince = new Date();
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, state.attempt - 1));
    var delay = Math.round(base * (0.8 + Math.random() * 0.4));
    state.retryAt = Date.now() + delay;
    setConn('down');
    setTimeout(connect, delay);
  }

  function setConn(c) {
    state.conn = c;
    var pill = $('conn');
    pill.dataset.state = c;
    pill.className = 'pill conn-' + c;
    pill.textContent = c === 'live' ? 'live' : c === 'stale' ? 'stale' : c === 'down' ? 'unreachable' : 'connecting…';
    document.body.classList.toggle('down', c === 'down');
    document.body.classList.toggle('stale', c === 'stale');
    renderBanner();
  }

  function renderBanner() {
    var b = $('banner');
    if (state.conn === 'down') {
      var secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      b.hidden = false;
      b.className = 'banner down';
      b.textContent = 'Server unreachable since ' + state.downSince.toLocaleTimeString() +
        ' — retrying in ' + secs + ' s (attempt ' + state.attempt + '). Figures below are frozen at the last update.';
    } else if (state.conn === 'stale') {
      b.hidden = false;
      b.className = 'banner stale';
      b.textContent = 'Connected, but no snapshot for ' + Math.round((Date.now() - state.lastFrameAt) / 1000) +
        ' s — the monitor may be stalled. Figures below are frozen.';
    } else if (state.conn === 'connecting' && state.downSince !== null) {
      b.hidden = false;
      b.className = 'banner down';
      b.textContent = 'Server unreachable since ' + state.downSince.toLocaleTimeString() + ' — reconnecting now (attempt ' + state.attempt + ')…';
    } else {
      b.hidden = true;
    }
  }

  setInterval(function () {
    if (state.conn === 'live' || state.conn === 'stale') {
      var expect = state.hello ? Math.max(state.hello.stream.interval_ms, state.hello.stream.tick_ms) : 1000;
      var quiet = Date.now() - state.lastFrameAt;
      if (quiet > Math.max(3 * expect, 5000)) { if (state.conn !== 'stale') setConn('stale'); else renderBanner(); }
      else if (state.conn === 'stale') setConn('live');
    } else {
      renderBanner();
    }
    renderAge();
  }, 500);

  // ── frames ───────────────────────────────────────────────────────────────
  function onHello(h) {
    state.hello = h;
    state.hellos++;
    state.attempt = 0;
    state.downSince = null;
    setConn('live');
    var names = h.stream.models;
    if (names.join('\u0000') !== state.modelNames.join('\u0000')) buildModels(names, h.models);
    $('settings').textContent = JSON.stringify(h.settings, null, 2);
    $('fact-cadence').textContent = 'every ' + fmtMs(Math.max(h.stream.interval_ms, h.stream.tick_ms));
  }

  // PUT /ab while connected: the new split shows without reconnecting.
  function onSettings(f) {
    if (!state.hello) return;
    state.hello.settings = f.settings;
    $('settings').textContent = JSON.stringify(f.settings, null, 2);
  }

  function onSnapshot(s) {
    state.lastSnapshot = s;
    var t = Date.parse(s.generated_at) / 1000;
    var win = s.window_names[0];
    var rates = {};
    for (var i = 0; i < state.modelNames.length; i++) {
      var name = state.modelNames[i];
      var m = s.models[name];
      if (!m) continue;
      var w = m.windows[win] || m.lifetime;
      rates[name] = rateOf(name, t, m, w);
      updateModel(state.models[name], t, m, w, rates[name]);
    }
    updateAb(t, rates);
    $('overall').className = 'pill status-' + s.health.status;
    $('overall').textContent = 'health ' + s.health.status;
    $('fact-uptime').textContent = 'uptime ' + fmtDuration(s.uptime_s);
    $('fact-workers').textContent = 'workers ' + s.workers.alive + '/' + s.workers.expected;
    renderAlerts(s.health.alerts);
    if (s.alert_events && s.alert_events.length) pushEvents(s.alert_events.map(eventLine));
  }

  function onAlert(a) {
    // Alert frames arrive at once, between snapshots: show the state change now.
    var lines = [];
    for (var i = 0; i < a.changes.length; i++) {
      var c = a.changes[i];
      lines.push({ at: a.generated_at, cls: rank(c.to) > rank(c.from) ? 'raised' : 'resolved', text: c.model + ' ' + c.what + ': ' + c.from + ' → ' + c.to });
      var v = state.models[c.model];
      if (v && c.what === 'health') setPill(v.health, 'status-' + c.to, c.to);
      if (v && c.what === 'drift') setPill(v.drift, 'sev-' + c.to, 'drift ' + c.to);
    }
    pushEvents(lines);
    renderAlerts(a.health.alerts);
  }

  function rank(x) { return { healthy: 0, none: 0, degraded: 1, medium: 1, unhealthy: 2, high: 2 }[x] || 0; }

  function eventLine(e) {
    return { at: e.at, cls: e.event, text: e.alert.model + ' ' + e.alert.kind + ' ' + e.alert.severity + ' ' + e.event + ': ' + e.alert.message };
  }

  /** Requests/s from lifetime counters between two frames; the window's rate until there are two. */
  function rateOf(name, t, m, w) {
    var prev = state.prevTotals[name];
    var total = m.lifetime.total_requests;
    state.prevTotals[name] = { t: t, total: total };
    if (prev && t > prev.t && total >= prev.total) return (total - prev.total) / (t - prev.t);
    return w.requests_per_minute / 60;
  }

  // ── per-model view ───────────────────────────────────────────────────────
  function buildModels(names, infos) {
    var root = $('models');
    for (var k in state.models) state.models[k].charts.forEach(function (c) { c.destroy(); });
    root.textContent = '';
    state.models = {};
    state.prevTotals = {};
    state.modelNames = names.slice();
    names.forEach(function (name, idx) {
      var info = infos.filter(function (x) { return x.name === name; })[0] || { version: '?' };
      var color = MODEL_COLORS[idx % MODEL_COLORS.length];
      var card = el('article', 'panel model');
      card.dataset.model = name;
      var head = el('div', 'model-head');
      var sw = el('span', 'swatch'); sw.style.background = color;
      head.appendChild(sw);
      head.appendChild(el('span', 'name', name));
      head.appendChild(el('span', 'ver', 'v' + info.version));
      var right = el('div', 'right');
      var drift = el('span', 'pill sev-none', 'drift –');
      var health = el('span', 'pill status-unknown', '–');
      drift.dataset.role = 'drift'; health.dataset.role = 'health';
      right.appendChild(drift); right.appendChild(health);
      head.appendChild(right);
      card.appendChild(head);

      var kpis = el('div', 'kpis');
      var tiles = {};
      [['rps', 'req/s'], ['p99', 'p99 e2e'], ['err', 'error rate'], ['mean', 'pred. mean'], ['psi', 'PSI'], ['share', 'A/B share']].forEach(function (d) {
        var tile = el('div', 'kpi');
        tile.appendChild(el('div', 'k', d[1]));
        var v = el('div', 'v', '–');
        tile.appendChild(v);
        tile.dataset.kpi = d[0];
        kpis.appendChild(tile);
        tiles[d[0]] = { tile: tile, v: v };
      });
      card.appendChild(kpis);

      var charts = el('div', 'charts');
      card.appendChild(charts);
      var checks = el('div', 'checks', '');
      card.appendChild(checks);
      // Click labels (POST /feedback) and per-field drift; filled once the snapshot carries them.
      var quality = el('div', 'quality');
      quality.hidden = true;
      card.appendChild(quality);
      root.appendChild(card);

      var view = {
        name: name, color: color, card: card, tiles: tiles, drift: drift, health: health, checks: checks, quality: quality, charts: [],
        xs: [], rps: [], lat: STAGES.map(function () { return [[], []]; }), err: [], mean: [], lo: [], hi: [],
      };
      view.rpsChart = makeChart(charts, 'requests/s', [{ label: 'req/s', stroke: color, width: 2, fill: color + '22' }], { y: fmtNum });
      var latSeries = [];
      STAGES.forEach(function (st) {
        // Told apart by more than the dash: p50 thin with wide gaps, p99 thick and solid.
        latSeries.push({ label: st.label + ' p50', stroke: st.color, width: 1, dash: [3, 6] });
        latSeries.push({ label: st.label + ' p99', stroke: st.color, width: 3 });
      });
      view.latChart = makeChart(charts, 'latency by stage, ms (p50 thin dashed, p99 thick solid)', latSeries, { y: fmtNum });
      view.errChart = makeChart(charts, 'error rate, %', [{ label: 'errors %', stroke: '#d2342c', width: 2, fill: '#d2342c18' }], { y: fmtNum, min0: true });
      view.meanChart = makeChart(charts, 'prediction mean vs baseline band', [
        { label: 'mean', stroke: color, width: 2 },
        { label: 'band low', stroke: '#7a869a', width: 1, dash: [2, 3] },
        { label: 'band high', stroke: '#7a869a', width: 1, dash: [2, 3] },
      ], { y: fmtNum, bands: [{ series: [3, 2], fill: 'rgba(26,156,85,0.12)' }] });
      view.charts = [view.rpsChart, view.latChart, view.errChart, view.meanChart];
      state.models[name] = view;
    });
    buildAb(names);
  }

  function makeChart(parent, title, series, o) {
    var box = el('div', 'chart');
    box.appendChild(el('div', 'chart-title', title));
    var holder = el('div', 'chart-body');
    box.appendChild(holder);
    parent.appendChild(box);
    var opts = {
      width: Math.max(200, holder.clientWidth || parent.clientWidth / 2 - 8),
      height: 130,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: true }, y: o.min0 ? { range: function (u, min, max) { return [0, Math.max(max * 1.15, 0.1)]; } } : { auto: true } },
      axes: [
        { stroke: '#6b7685', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#dde3ea' }, size: 28, font: '11px system-ui' },
        { stroke: '#6b7685', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#dde3ea' }, size: 50, font: '11px system-ui',
          values: function (u, vals) { return vals.map(o.y); } },
      ],
      series: [{}].concat(series.map(function (s) { return Object.assign({ spanGaps: true, points: { show: false } }, s); })),
    };
    if (o.bands) opts.bands = o.bands;
    var data = [[]].concat(series.map(function () { return []; }));
    var chart = new uPlot(opts, data, holder);
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(function () {
        var w = Math.floor(holder.clientWidth);
        if (w > 0 && Math.abs(w - chart.width) > 2) chart.setSize({ width: w, height: 130 });
      }).observe(holder);
    }
    return chart;
  }

  function push(arr, v) {
    arr.push(v);
    if (arr.length > MAX_POINTS) arr.shift();
  }

  function updateModel(v, t, m, w, rps) {
    if (!v) return;
    push(v.xs, t);
    push(v.rps, rps);
    STAGES.forEach(function (st, i) {
      var b = w.stages[st.key];
      push(v.lat[i][0], b.count > 0 ? b.p50 : null);
      push(v.lat[i][1], b.count > 0 ? b.p99 : null);
    });
    var errPct = w.total_requests > 0 ? w.error_rate * 100 : null;
    push(v.err, errPct);
    var mean = w.prediction.count > 0 ? w.prediction.mean : null;
    push(v.mean, mean);
    var band = baselineBand(m.drift);
    push(v.lo, band ? band[0] : null);
    push(v.hi, band ? band[1] : null);

    v.rpsChart.setData([v.xs, v.rps]);
    var lat = [v.xs];
    v.lat.forEach(function (pair) { lat.push(pair[0], pair[1]); });
    v.latChart.setData(lat);
    v.errChart.setData([v.xs, v.err]);
    v.meanChart.setData([v.xs, v.mean, v.lo, v.hi]);

    var e2e = w.stages.end_to_end;
    var h = m.health;
    var check = function (n) { return h.checks.filter(function (c) { return c.name === n; })[0]; };
    setKpi(v.tiles.rps, fmtNum(rps), '');
    setKpi(v.tiles.p99, e2e.count > 0 ? fmtNum(e2e.p99) : '–', 'ms', check('latency_p99'));
    setKpi(v.tiles.err, errPct === null ? '–' : fmtPct(w.error_rate), '', check('error_rate'));
    var off = band && mean !== null && (mean < band[0] || mean > band[1]);
    setKpi(v.tiles.mean, mean === null ? '–' : mean.toFixed(4), '', off ? { status: 'warn' } : null);
    var psi = m.drift.checks.filter(function (c) { return c.name === 'psi'; })[0];
    var psiLevel = psi && psi.severity === 'high' ? { status: 'fail' } : psi && psi.severity === 'medium' ? { status: 'warn' } : null;
    setKpi(v.tiles.psi, psi && psi.statistic !== null ? psi.statistic.toFixed(3) : '–', '', psiLevel);
    v.tiles.psi.tile.title = psi ? psi.detail : 'PSI needs a baseline captured from traffic';
    v.driftSeverity = m.drift.severity;
    setPill(v.drift, 'sev-' + m.drift.severity, 'drift ' + m.drift.severity + (m.drift.severity !== 'none' ? ' · warning alert' : ''));
    setPill(v.health, 'status-' + h.status, h.status);
    renderQuality(v, m);
    v.checks.textContent = m.drift.baseline
      ? 'baseline ' + m.drift.baseline.mean_prediction.toFixed(4) + ' ± ' + m.drift.baseline.std_prediction.toFixed(4) +
        ' (' + m.drift.baseline.source + ') · ' + m.drift.message + ' · window ' + m.drift.window
      : m.drift.message;
  }

  /**
   * Quality from click labels: a reliability diagram (observed CTR against mean
   * predicted CTR per equal-count group, the diagonal is perfect calibration)
   * of the longest window, and the A/B comparison: overall, per variant and per
   * version, calibration ratio with its 95 % interval, log loss, AUC. Then the
   * request fields ranked by drift.
   */
  function renderQuality(v, m) {
    var q = m.quality, f = m.drift.features;
    if (!q && !f) { v.quality.hidden = true; return; }
    v.quality.hidden = false;
    v.quality.textContent = '';
    if (q) {
      var names = Object.keys(q.windows);
      var wname = names[names.length - 1];
      var g = q.windows[wname] && q.windows[wname].labelled > 0 ? q.windows[wname] : q.lifetime;
      var label = g === q.lifetime ? 'lifetime' : wname;
      var box = el('div', 'reliability');
      box.appendChild(el('div', 'k', 'reliability (' + label + ', ' + g.labelled + ' labels)'));
      box.appendChild(reliabilitySvg(g.reliability, v.color));
      v.quality.appendChild(box);
      var table = el('table', 'ab-quality');
      var head = el('tr');
      ['', 'labels', 'obs/pred [95 % CI]', 'log loss', 'AUC'].forEach(function (h) { head.appendChild(el('th', null, h)); });
      table.appendChild(head);
      var rows = [['all', g]];
      ['ab', 'explicit', 'by_value'].forEach(function (k) { if (g.by_variant[k] && g.by_variant[k].labelled > 0) rows.push(['variant ' + k, g.by_variant[k]]); });
      Object.keys(g.by_version).forEach(function (k) { if (g.by_version[k].labelled > 0) rows.push(['v' + k, g.by_version[k]]); });
      rows.forEach(function (r) {
        var b = r[1], tr = el('tr');
        var ci = b.calibration_ratio_ci95;
        var off = ci && (ci[0] > 1 || ci[1] < 1) && Math.max(b.calibration_ratio, 1 / b.calibration_ratio) > 1.25;
        tr.appendChild(el('td', null, r[0]));
        tr.appendChild(el('td', null, String(b.labelled)));
        tr.appendChild(el('td', off ? 'warn' : null, b.calibration_ratio === null ? '–' : b.calibration_ratio.toFixed(3) + ' [' + ci[0].toFixed(2) + '–' + ci[1].toFixed(2) + ']'));
        tr.appendChild(el('td', null, b.log_loss === null ? '–' : b.log_loss.toFixed(4)));
        tr.appendChild(el('td', null, b.auc === null ? '–' : b.auc.toFixed(3)));
        table.appendChild(tr);
      });
      v.quality.appendChild(table);
    }
    if (f && f.has_baseline) {
      var list = el('div', 'fields');
      list.appendChild(el('div', 'k', 'fields by drift (' + f.window + ')'));
      f.fields.slice(0, 5).forEach(function (x) {
        list.appendChild(el('div', 'field sev-' + x.severity, x.field + ' · PSI ' + (x.psi === null ? '–' : x.psi.toFixed(3)) +
          (x.top_changes.length ? ' · ' + x.top_changes[0][0] + ' ' + fmtPct(x.top_changes[0][1]) + '→' + fmtPct(x.top_changes[0][2]) : '')));
      });
      v.quality.appendChild(list);
    }
  }

  function reliabilitySvg(bins, color) {
    var NS = 'http://www.w3.org/2000/svg', W = 160, H = 160;
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('class', 'reliability-svg');
    var top = 0;
    bins.forEach(function (b) { top = Math.max(top, b.mean_predicted, b.observed_ctr); });
    top = top > 0 ? top * 1.1 : 0.1;
    var sx = function (x) { return 4 + (x / top) * (W - 8); }, sy = function (y) { return H - 4 - (y / top) * (H - 8); };
    var line = function (x1, y1, x2, y2, stroke, dash) {
      var l = document.createElementNS(NS, 'line');
      l.setAttribute('x1', x1); l.setAttribute('y1', y1); l.setAttribute('x2', x2); l.setAttribute('y2', y2);
      l.setAttribute('stroke', stroke); if (dash) l.setAttribute('stroke-dasharray', dash);
      svg.appendChild(l);
    };
    line(sx(0), sy(0), sx(top), sy(top), '#7a869a', '3 3');
    var pts = bins.map(function (b) { return sx(b.mean_predicted) + ',' + sy(b.observed_ctr); }).join(' ');
    var pl = document.createElementNS(NS, 'polyline');
    pl.setAttribute('points', pts); pl.setAttribute('fill', 'none'); pl.setAttribute('stroke', color); pl.setAttribute('stroke-width', '2');
    svg.appendChild(pl);
    bins.forEach(function (b) {
      var c = document.createElementNS(NS, 'circle');
      c.setAttribute('cx', sx(b.mean_predicted)); c.setAttribute('cy', sy(b.observed_ctr)); c.setAttribute('r', '2.5'); c.setAttribute('fill', color);
      svg.appendChild(c);
    });
    return svg;
  }

  /**
   * The no-drift zone of the mean: baseline ± the larger of the mean-shift
   * check's minimum effect and its medium z threshold in standard errors.
   */
  function baselineBand(d) {
    var b = d.baseline;
    if (!b) return null;
    var c = d.checks.filter(function (x) { return x.name === 'mean_shift'; })[0];
    var sigma = b.std_prediction;
    var half = 0.2 * sigma;
    if (c) {
      var n = Math.max(c.samples, 1);
      var inv0 = b.prediction_count ? 1 / b.prediction_count : 0;
      half = Math.max((c.min_effect || 0) * sigma, c.threshold.medium * sigma * Math.sqrt(1 / n + inv0));
    }
    return [b.mean_prediction - half, b.mean_prediction + half];
  }

  function setKpi(t, text, unit, chk) {
    t.v.textContent = text;
    if (unit) { var s = el('small', '', ' ' + unit); t.v.appendChild(s); }
    var st = chk ? chk.status : 'pass';
    t.tile.className = 'kpi' + (st === 'fail' ? ' bad' : st === 'warn' ? ' warn' : '');
  }

  function setPill(p, cls, text) {
    p.className = 'pill ' + cls;
    p.textContent = text;
  }

  // ── A/B split ────────────────────────────────────────────────────────────
  function buildAb(names) {
    if (state.ab) state.ab.chart.destroy();
    $('ab-chart').textContent = '';
    var series = names.map(function (n, i) { return { label: n, stroke: MODEL_COLORS[i % MODEL_COLORS.length], width: 2 }; });
    var chart = makeChart($('ab-chart'), 'share of requests/s, %', series, { y: fmtNum, min0: true });
    state.ab = { chart: chart, xs: [], shares: names.map(function () { return []; }) };
  }

  function weights() {
    var h = state.hello;
    if (!h) return null;
    var s = h.settings || {};
    var w = s.ab_weights || s.abWeights || null;
    if (w && typeof w === 'object') return w;
    var out = null;
    h.models.forEach(function (m) { if (typeof m.ab_weight === 'number') { out = out || {}; out[m.name] = m.ab_weight; } });
    return out;
  }

  function updateAb(t, rates) {
    var ab = state.ab;
    if (!ab) return;
    var names = state.modelNames;
    var sum = 0;
    names.forEach(function (n) { sum += rates[n] || 0; });
    var w = weights();
    var wsum = 0;
    if (w) names.forEach(function (n) { wsum += Number(w[n]) || 0; });
    push(ab.xs, t);
    var bar = $('ab-bar'), legend = $('ab-legend');
    bar.textContent = '';
    legend.textContent = '';
    names.forEach(function (n, i) {
      var share = sum > 0 ? (rates[n] || 0) / sum : null;
      push(ab.shares[i], share === null ? null : share * 100);
      var color = MODEL_COLORS[i % MODEL_COLORS.length];
      var seg = el('div', '', share !== null && share >= 0.08 ? n + ' ' + Math.round(share * 100) + '%' : '');
      seg.style.width = (share === null ? 100 / names.length : share * 100) + '%';
      seg.style.background = color;
      bar.appendChild(seg);
      var item = el('span');
      var sw = el('span', 'swatch'); sw.style.background = color;
      item.appendChild(sw);
      item.appendChild(el('b', '', n));
      item.appendChild(document.createTextNode(' ' + (share === null ? '–' : (share * 100).toFixed(1) + '%') + ' · ' + fmtNum(rates[n] || 0) + ' req/s' +
        (w && wsum > 0 ? ' · weight ' + ((Number(w[n]) || 0) / wsum * 100).toFixed(0) + '%' : '')));
      legend.appendChild(item);
      var v = state.models[n];
      if (v) setKpi(v.tiles.share, share === null ? '–' : (share * 100).toFixed(1) + '%', '', null);
    });
    ab.chart.setData([ab.xs].concat(ab.shares));
  }

  // ── alerts ───────────────────────────────────────────────────────────────
  function renderAlerts(alerts) {
    var list = $('alert-list');
    list.textContent = '';
    var count = $('alert-count');
    count.textContent = String(alerts.length);
    count.className = 'count' + (alerts.length > 0 ? ' hot' : '');
    if (alerts.length === 0) { list.appendChild(el('li', 'none', 'none')); return; }
    alerts.forEach(function (a) {
      var li = el('li', 'alert');
      li.dataset.model = a.model;
      li.dataset.kind = a.kind;
      // A drift alert is a warning whatever the drift's own severity; say both, as the model's pill does.
      var driftSev = a.kind === 'drift' && state.models[a.model] ? state.models[a.model].driftSeverity : null;
      li.appendChild(el('span', 'pill sev-' + a.severity, a.severity + (driftSev && driftSev !== 'none' ? ' · drift ' + driftSev : '')));
      li.appendChild(el('b', '', a.model));
      li.appendChild(el('span', '', a.kind.replace('_', ' ')));
      li.appendChild(el('span', 'msg', a.message));
      li.appendChild(el('span', 'dim', 'since ' + new Date(a.since).toLocaleTimeString()));
      list.appendChild(li);
    });
  }

  function pushEvents(lines) {
    if (!lines.length) return;
    state.events = lines.concat(state.events).slice(0, 30);
    var list = $('event-list');
    list.textContent = '';
    state.events.forEach(function (l) {
      var li = el('li');
      li.appendChild(el('span', '', new Date(l.at).toLocaleTimeString() + ' '));
      li.appendChild(el('span', l.cls, l.text));
      list.appendChild(li);
    });
  }

  // ── formatting ───────────────────────────────────────────────────────────
  function fmtNum(x) {
    if (x === null || x === undefined || !isFinite(x)) return '–';
    var a = Math.abs(x);
    if (a >= 10000) return (x / 1000).toFixed(1) + 'k';
    if (a >= 100) return x.toFixed(0);
    if (a >= 10) return x.toFixed(1);
    if (a >= 1) return x.toFixed(2);
    if (a === 0) return '0';
    return x.toPrecision(2);
  }
  function fmtPct(r) { return (r * 100 < 0.01 && r > 0) ? '<0.01%' : (r * 100).toFixed(2) + '%'; }
  function fmtMs(ms) { return ms >= 1000 ? (ms / 1000) + ' s' : ms + ' ms'; }
  function fmtDuration(s) {
    s = Math.floor(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function renderAge() {
    var s = state.lastSnapshot;
    if (!s) return;
    var age = (Date.now() - Date.parse(s.generated_at)) / 1000;
    $('fact-updated').textContent = 'updated ' + (age < 1.5 ? 'just now' : Math.round(age) + ' s ago');
  }

  // Exposed for the browser test and the curious.
  window.ctrDashboard = state;
  connect();
})();
