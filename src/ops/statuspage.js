/* statuspage.js -- the status page's script, inlined into GET / (see
 * statuspage.c).
 *
 * Every 2 s it asks /api/stats/history for the samples it has not seen
 * (?since=<time of the newest>), keeps at most the ring's capacity, redraws
 * the charts (dygraphs, when the page loaded it) and replaces the tables
 * with /status/tables.  It talks to this relay only, changes nothing
 * there, and reports a failed refresh in the header instead of throwing.
 * The data it holds is window.tsrelayStatus (the browser test reads it).
 */
(function () {
  'use strict';
  var REFRESH_MS = 2000;
  var S = window.tsrelayStatus = {
    history: null, charts: {}, updates: 0, failures: 0, lastError: ''
  };
  var charts = typeof window.Dygraph === 'function' && !!document.getElementById('chart-mem');

  function el(id) { return document.getElementById(id); }

  function get(url, json) {
    return fetch(url, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); }
      return json ? r.json() : r.text();
    });
  }

  function bytes(v) {
    if (v === null || v === undefined || isNaN(v)) { return ''; }
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(Math.abs(v) < 10 ? 1 : 0) : String(Math.round(v))) + ' ' + u[i];
  }

  function count(v) {
    if (v === null || v === undefined || isNaN(v)) { return ''; }
    if (Math.abs(v) >= 1e6) { return (v / 1e6).toFixed(2) + 'M'; }
    if (Math.abs(v) >= 1e4) { return (v / 1e3).toFixed(1) + 'k'; }
    return String(Math.round(v * 10) / 10);
  }

  /* A change per hour in bytes, signed: "+12 KiB/h". */
  function perHour(v) {
    if (v === null || isNaN(v)) { return 'n/a'; }
    return (v < 0 ? '-' : '+') + bytes(Math.abs(v)) + '/h';
  }

  /* Least-squares slope of column c against time, in units per hour, over
   * the samples held (null with fewer than two). */
  function slope(h, c) {
    var i = h.columns.indexOf(c), n = 0, st = 0, sv = 0, stt = 0, stv = 0;
    var t0 = h.samples.length ? h.samples[0][0] : 0;
    h.samples.forEach(function (s) {
      var v = s[i];
      if (v === null || v === undefined) { return; }
      var t = s[0] - t0;
      n++; st += t; sv += v; stt += t * t; stv += t * v;
    });
    var d = n * stt - st * st;
    return n < 2 || d <= 0 ? null : (n * stv - st * sv) / d * 3600;
  }

  function seconds(v) {
    if (v === null || v === undefined || isNaN(v)) { return ''; }
    return (v < 10 ? v.toFixed(1) : Math.round(v)) + ' s';
  }

  function sameKeys(a, b) {
    var ka = Object.keys(a || {}).sort(), kb = Object.keys(b || {}).sort();
    return ka.join('\u0000') === kb.join('\u0000');
  }

  /* Appends an answer to ?since=..; false when it does not continue what
   * we hold (restart, other ring, other backends): fetch everything. */
  function merge(h, partial) {
    var o = S.history;
    if (!partial || !o) { S.history = h; return true; }
    if (o.started !== h.started || o.capacity !== h.capacity || !sameKeys(o.backends, h.backends)) {
      return false;
    }
    Array.prototype.push.apply(o.samples, h.samples);
    Object.keys(h.backends).forEach(function (name) {
      Array.prototype.push.apply(o.backends[name].samples, h.backends[name].samples);
    });
    var extra = o.samples.length - o.capacity;
    if (extra > 0) {
      o.samples.splice(0, extra);
      Object.keys(o.backends).forEach(function (name) { o.backends[name].samples.splice(0, extra); });
    }
    o.now = h.now;
    return true;
  }

  function newest() {
    var s = S.history && S.history.samples;
    return s && s.length ? s[s.length - 1][0] : null;
  }

  /* Rows [Date, columns...] for dygraphs. */
  function rows(h, names) {
    var idx = names.map(function (n) { return h.columns.indexOf(n); });
    return h.samples.map(function (s) {
      return [new Date(s[0] * 1000)].concat(idx.map(function (i) { return s[i]; }));
    });
  }

  function backendRows(h, name, names) {
    var b = h.backends[name];
    var idx = names.map(function (n) { return b.columns.indexOf(n); });
    return h.samples.map(function (s, k) {
      var v = b.samples[k] || [];
      return [new Date(s[0] * 1000)].concat(idx.map(function (i) {
        return v[i] === undefined ? null : v[i];
      }));
    });
  }

  /* div: the chart's element; its legend goes in the element after it */
  function draw(key, div, data, opts) {
    var c = S.charts[key];
    if (c) { c.updateOptions({ file: data }); return; }
    opts.legend = 'always';
    opts.labelsDiv = div.nextElementSibling;
    opts.labelsSeparateLines = false;
    opts.strokeWidth = 1.5;
    opts.includeZero = true;
    opts.axisLabelWidth = 64;
    opts.rightGap = 10;
    S.charts[key] = new window.Dygraph(div, data, opts);
  }

  function backendFigure(name) {
    var id = 'chart-be-' + name;
    var div = el(id);
    if (div) { return div; }
    var fig = document.createElement('figure');
    var cap = document.createElement('figcaption');
    cap.textContent = 'Backend ' + name + ': queue and spool bytes, backlog age';
    div = document.createElement('div');
    div.id = id;
    div.className = 'chart';
    var legend = document.createElement('div');
    legend.className = 'legend';
    fig.appendChild(cap);
    fig.appendChild(div);
    fig.appendChild(legend);
    el('chart-backends').appendChild(fig);
    return div;
  }

  function drawAll() {
    var h = S.history;
    if (!charts || !h || h.samples.length < 2) { return; }
    draw('mem', el('chart-mem'), rows(h, ['mem_live', 'mem_reserved', 'mem_rss', 'mem_limit']), {
      labels: ['time', 'live', 'reserved', 'RSS', 'limit'],
      colors: ['#1f77b4', '#2ca02c', '#9467bd', '#d62728'],
      axes: { y: { valueFormatter: bytes, axisLabelFormatter: bytes } }
    });
    /* the memory outside the limit's scale: what RSS is made of, and
     * whether it creeps (the slopes over the window, in the caption) */
    draw('trend', el('chart-trend'), rows(h, ['mem_rss', 'mem_reserved', 'mem_live',
                                              'mem_malloc', 'mem_malloc_held']), {
      labels: ['time', 'RSS', 'pool reserved', 'pool live', 'malloc in use', 'malloc held'],
      colors: ['#9467bd', '#2ca02c', '#1f77b4', '#ff7f0e', '#8c564b'],
      axes: { y: { valueFormatter: bytes, axisLabelFormatter: bytes } }
    });
    var span = h.samples[h.samples.length - 1][0] - h.samples[0][0];
    el('trend-mem').textContent = '(trend over the last ' +
      (span < 120 ? Math.round(span) + ' s' : Math.round(span / 60) + ' min') + ': RSS ' + perHour(slope(h, 'mem_rss')) + ', malloc in use ' +
      perHour(slope(h, 'mem_malloc')) + ', pool reserved ' +
      perHour(slope(h, 'mem_reserved')) + ')';
    var pts = ['received', 'forwarded', 'spooled', 'unspooled', 'dropped', 'invalid'];
    draw('points', el('chart-points'), rows(h, pts), {
      labels: ['time'].concat(pts),
      colors: ['#1f77b4', '#2ca02c', '#ff7f0e', '#17becf', '#d62728', '#8c564b'],
      axes: { y: { valueFormatter: count, axisLabelFormatter: count } }
    });
    Object.keys(h.backends).sort().forEach(function (name) {
      var labels = ['time', 'queue bytes', 'spool bytes', 'backlog age'];
      draw('be:' + name, backendFigure(name),
           backendRows(h, name, ['queue_bytes', 'spool_bytes', 'backlog_age']), {
             labels: labels,
             colors: ['#1f77b4', '#ff7f0e', '#d62728'],
             series: { 'backlog age': { axis: 'y2' } },
             axes: {
               y: { valueFormatter: bytes, axisLabelFormatter: bytes },
               y2: { valueFormatter: seconds, axisLabelFormatter: seconds, independentTicks: true }
             }
           });
    });
  }

  function say(text) {
    var p = el('live');
    if (p) { p.textContent = text; }
  }

  function refresh() {
    var t = newest();
    var partial = t !== null;
    var url = '/api/stats/history' + (partial ? '?since=' + t : '');
    return Promise.all([get(url, true), get('/status/tables', false)]).then(function (r) {
      if (!merge(r[0], partial)) {
        S.history = null;
        return refresh();
      }
      el('tables').innerHTML = r[1];
      drawAll();
      S.updates++;
      say('Live: refreshed every ' + REFRESH_MS / 1000 + ' s, last at ' +
          new Date().toLocaleTimeString() + (charts ? '' : ' (tables only)'));
      return null;
    });
  }

  function loop() {
    refresh().catch(function (e) {
      S.failures++;
      S.lastError = String(e && e.message ? e.message : e);
      say('Refresh failed (' + S.lastError + '); retrying every ' + REFRESH_MS / 1000 + ' s');
    }).then(function () { window.setTimeout(loop, REFRESH_MS); });
  }

  loop();
}());
