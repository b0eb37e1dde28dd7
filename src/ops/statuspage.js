/* statuspage.js -- the status page's script, inlined into GET / (see
 * statuspage.c).
 *
 * Every 2 s it asks /tsrelay/api/stats/history for the samples it has not seen
 * (?since=<time of the newest>), keeps at most the ring's capacity, redraws
 * the charts (dygraphs, when the page loaded it) and replaces the tables
 * with /tsrelay/tables.  It talks to this relay only, changes nothing
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

  /* Okabe-Ito: eight colours told apart with the common colour-vision
   * deficiencies (protan, deutan, tritan); its yellow is too light on
   * white and is not used. */
  var OI = { black: '#000000', orange: '#E69F00', sky: '#56B4E9', green: '#009E73',
             blue: '#0072B2', vermillion: '#D55E00', purple: '#CC79A7' };
  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

  function none(v) { return v === null || v === undefined || isNaN(v); }

  /* A number as short as its value needs: 2, 2.5, 0.005 (no trailing 0s). */
  function trim(v, d) { return String(Number(v.toFixed(d))); }

  function bytes(v) {
    if (none(v)) { return ''; }
    var i = 0;
    while (Math.abs(v) >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
    return (i ? trim(v, Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0) : String(Math.round(v))) +
      ' ' + UNITS[i];
  }

  function count(v) {
    if (none(v)) { return ''; }
    if (Math.abs(v) >= 1e6) { return trim(v / 1e6, 2) + 'M'; }
    if (Math.abs(v) >= 1e4) { return trim(v / 1e3, 1) + 'k'; }
    return trim(v, 1);
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
    if (none(v)) { return ''; }
    if (v >= 7200) { return trim(v / 3600, 1) + ' h'; }
    if (v >= 120) { return trim(v / 60, 1) + ' min'; }
    return trim(v, v < 0.1 ? 3 : v < 10 ? 2 : 0) + ' s';
  }

  /* ---- axis ticks: round numbers in one unit per axis ------------------ */

  /* The step that gives at most n ticks over span: 1, 2 or 5 times a power
   * of ten (at least `least`). */
  function step125(span, n, least) {
    var raw = Math.max(span / Math.max(1, n), least || 0, 1e-12);
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var k = [1, 2, 5, 10].filter(function (m) { return m * p >= raw * (1 - 1e-9); })[0];
    return k * p;
  }

  /* Ticks from lo to hi: values v * scale, labelled "v unit" with as many
   * decimals as the step has. */
  function linearTicks(lo, hi, pixels, scale, unit, least) {
    var n = Math.max(2, Math.floor(pixels / 40));
    var st = step125((hi - lo) / scale, n, least);
    var d = Math.max(0, -Math.floor(Math.log10(st) + 1e-9)), out = [];
    for (var k = Math.ceil(lo / scale / st - 1e-9); k * st <= hi / scale * (1 + 1e-9); k++) {
      var v = k * st;
      out.push({ v: v * scale, label: v === 0 ? '0' : trim(v, d) + unit });
    }
    return out;
  }

  /* Bytes: the unit of the axis' top (B, KiB, MiB, ...), whole bytes at
   * least: "0, 2 MiB, 4 MiB" (not 48 MiB / 95 MiB from decimal steps). */
  function bytesTicker(lo, hi, pixels) {
    var top = Math.max(Math.abs(lo), Math.abs(hi)), i = 0;
    while (top >= 1024 && i < UNITS.length - 1) { top /= 1024; i++; }
    return linearTicks(lo, hi, pixels, Math.pow(1024, i), ' ' + UNITS[i], i ? 0 : 1);
  }

  /* Bytes on a log scale: powers of two (every 2nd, 3rd, 4th, ... when
   * they crowd), each a whole number of its unit: 256 KiB, 1 MiB, 4 MiB. */
  function logBytesTicker(lo, hi, pixels) {
    var e0 = Math.ceil(Math.log2(Math.max(lo, 1))), e1 = Math.floor(Math.log2(Math.max(hi, 1)));
    var n = Math.max(2, Math.floor(pixels / 33)), out = [];
    var stride = [1, 2, 3, 4, 5, 10, 20].filter(function (k) {
      return Math.floor((e1 - e0) / k) + 1 <= n;
    })[0] || 40;
    for (var e = Math.ceil(e0 / stride) * stride; e <= e1; e += stride) {
      var u = Math.min(Math.floor(e / 10), UNITS.length - 1);
      out.push({ v: Math.pow(2, e), label: Math.pow(2, e - 10 * u) + ' ' + UNITS[u] });
    }
    return out;
  }

  /* Points per second: "0, 50k, 100k", "0, 0.5M, 1M". */
  function countTicker(lo, hi, pixels) {
    var top = Math.max(Math.abs(lo), Math.abs(hi));
    return top >= 2e6 ? linearTicks(lo, hi, pixels, 1e6, 'M')
      : top >= 2e3 ? linearTicks(lo, hi, pixels, 1e3, 'k') : linearTicks(lo, hi, pixels, 1, '');
  }

  /* Seconds up to 2 minutes (0.005 s, 2 s, 50 s), then minutes, hours:
   * the backlog age's real range, never "0.0 s" on every tick. */
  function secondsTicker(lo, hi, pixels) {
    return hi >= 7200 ? linearTicks(lo, hi, pixels, 3600, ' h')
      : hi >= 120 ? linearTicks(lo, hi, pixels, 60, ' min') : linearTicks(lo, hi, pixels, 1, ' s');
  }

  S.format = { bytes: bytesTicker, logBytes: logBytesTicker, count: countTicker,
               seconds: secondsTicker };

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
    if (c) {
      c.updateOptions({ file: data, axes: opts.axes });
      return;
    }
    opts.legend = 'always';
    opts.labelsDiv = div.nextElementSibling;
    opts.labelsSeparateLines = false;
    opts.strokeWidth = 1.5;
    opts.includeZero = true;
    opts.axisLabelWidth = 64;
    opts.rightGap = 10;
    S.charts[key] = new window.Dygraph(div, data, opts);
  }

  function figure(id, caption) {
    var div = el(id);
    if (div) { return div; }
    var fig = document.createElement('figure');
    var cap = document.createElement('figcaption');
    cap.textContent = caption;
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

  /* Smallest and largest of columns c of rows (nulls and, for a log
   * scale, zeros left out). */
  function extent(data, cols, positive) {
    var lo = Infinity, hi = -Infinity;
    data.forEach(function (row) {
      cols.forEach(function (c) {
        var v = row[c];
        if (none(v) || (positive && v <= 0)) { return; }
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      });
    });
    return [lo, hi];
  }

  /* Memory on a log scale, so live (often a few hundred KiB), reserved and
   * RSS (MiB) each read at their own level under a limit of 128 MiB or
   * more, which stays on the chart as a dashed line.  Drawn top to bottom
   * as the lines lie: limit, RSS, reserved, then live last, on top. */
  function drawMemory(h) {
    var data = rows(h, ['mem_limit', 'mem_rss', 'mem_reserved', 'mem_live']);
    var e = extent(data, [1, 2, 3, 4], true);
    var range = e[0] < Infinity ? [Math.max(e[0] / 4, 1), e[1] * 2] : [1024, 1 << 30];
    draw('mem', el('chart-mem'), data, {
      labels: ['time', 'limit', 'RSS', 'reserved', 'live'],
      colors: [OI.black, OI.orange, OI.green, OI.blue],
      series: { limit: { strokePattern: [6, 4] }, live: { strokeWidth: 2.5 } },
      axes: { y: { logscale: true, valueRange: range, ticker: logBytesTicker,
                   valueFormatter: bytes } }
    });
  }

  /* The memory outside the limit's scale: what RSS is made of, and
   * whether it creeps (the slopes over the window, in the caption). */
  function drawTrend(h) {
    draw('trend', el('chart-trend'), rows(h, ['mem_rss', 'mem_reserved', 'mem_live',
                                              'mem_malloc', 'mem_malloc_held']), {
      labels: ['time', 'RSS', 'pool reserved', 'pool live', 'malloc in use', 'malloc held'],
      colors: [OI.orange, OI.green, OI.blue, OI.vermillion, OI.purple],
      axes: { y: { valueFormatter: bytes, ticker: bytesTicker } }
    });
    var span = h.samples.length > 0 ? h.samples[h.samples.length - 1][0] - h.samples[0][0] : 0;
    el('trend-mem').textContent = '(trend over the last ' +
      (span < 120 ? Math.round(span) + ' s' : Math.round(span / 60) + ' min') + ': RSS ' +
      perHour(slope(h, 'mem_rss')) + ', malloc in use ' + perHour(slope(h, 'mem_malloc')) +
      ', pool reserved ' + perHour(slope(h, 'mem_reserved')) + ')';
  }

  function drawPoints(h) {
    var pts = ['received', 'forwarded', 'spooled', 'unspooled', 'dropped', 'invalid'];
    draw('points', el('chart-points'), rows(h, pts), {
      labels: ['time'].concat(pts),
      colors: [OI.blue, OI.green, OI.orange, OI.sky, OI.vermillion, OI.purple],
      axes: { y: { ticker: countTicker, valueFormatter: count } }
    });
  }

  /* Per backend: its queue in memory, with the backlog age on a seconds
   * axis of its own; and its spool in Redis on a bytes axis of its own
   * (the spool is compressed: on the queue's axis it lay flat). */
  function drawBackend(h, name) {
    draw('be:' + name, figure('chart-be-' + name, 'Backend ' + name + ': queue and backlog age'),
         backendRows(h, name, ['queue_bytes', 'backlog_age']), {
           labels: ['time', 'queue bytes', 'backlog age'],
           colors: [OI.blue, OI.vermillion],
           series: { 'backlog age': { axis: 'y2' } },
           axes: {
             y: { ticker: bytesTicker, valueFormatter: bytes },
             y2: { ticker: secondsTicker, valueFormatter: seconds, independentTicks: true }
           }
         });
    draw('spool:' + name, figure('chart-spool-' + name, 'Backend ' + name + ': spool in Redis'),
         backendRows(h, name, ['spool_bytes']), {
           labels: ['time', 'spool bytes'],
           colors: [OI.orange],
           axes: { y: { ticker: bytesTicker, valueFormatter: bytes } }
         });
  }

  function drawAll() {
    var h = S.history;
    if (!charts || !h || h.samples.length < 2) { return; }
    drawMemory(h);
    drawTrend(h);
    drawPoints(h);
    Object.keys(h.backends).sort().forEach(function (name) { drawBackend(h, name); });
  }

  function say(text) {
    var p = el('live');
    if (p) { p.textContent = text; }
  }

  function refresh() {
    var t = newest();
    var partial = t !== null;
    var url = '/tsrelay/api/stats/history' + (partial ? '?since=' + t : '');
    return Promise.all([get(url, true), get('/tsrelay/tables', false)]).then(function (r) {
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
