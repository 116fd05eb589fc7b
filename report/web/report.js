// Glue between the report's embedded JSON data and uPlot: decoding, chart
// options, level-of-detail switching on zoom, legend/zoom wiring, and a
// self-check of every canvas for the browser test. No chart geometry is drawn
// here except the thin level-boundary lines (a uPlot draw hook).
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('cinergy-data').textContent);
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
                 '#17becf', '#bcbd22', '#7f7f7f', '#393b79', '#e7298a'];
  var MAX_POINTS = 8000;  // points drawn per series at once (level choice on zoom)
  var charts = [];        // {id, plot}
  var groupsDone = [];    // time-series groups, for the zoom self-check

  // Delta-encoded integers -> numbers (null stays null), scaled by q.
  function decode(arr, q) {
    var out = new Array(arr.length), acc = 0;
    for (var i = 0; i < arr.length; i++) {
      var d = arr[i];
      if (d === null) { out[i] = null; continue; }
      acc += d;
      out[i] = Math.round(acc * q * 1e6) / 1e6;
    }
    return out;
  }
  function lowerBound(xs, v) {
    var lo = 0, hi = xs.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (xs[mid] < v) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function width(el) { return Math.max(480, (el.clientWidth || 1000) - 10); }
  function fmt(v, d) { return v == null ? '–' : v.toFixed(d); }

  // ---- 1. time series, one group (power chart + CPU chart) per trace ----
  function timeSeriesGroup(trace, container) {
    var blob = JSON.parse(document.getElementById('cinergy-levels-' + trace.blob).textContent);
    var levels = blob.map(function (lv, li) {
      var x = decode(lv.x, 1e-6);
      var y = lv.y.map(function (col, si) { return decode(col, trace.series[si].q); });
      return {x: x, y: y, raw: lv.raw, bucket_s: trace.levels[li] ? trace.levels[li].bucket_s : 0};
    });
    var full = levels[0].x;
    var xmin = full.length ? full[0] : 0, xmax = full.length ? full[full.length - 1] : 1;
    if (xmax <= xmin) xmax = xmin + 1;

    var box = document.createElement('div');
    box.className = 'group';
    var head = document.createElement('div');
    head.className = 'group-head';
    var title = document.createElement('h3');
    title.textContent = trace.phase + (trace.from_csv ? ' (2 s windows from the original CSV: no trace)' : '');
    var res = document.createElement('span');
    res.className = 'res';
    var lvl = document.createElement('span');
    lvl.className = 'lvl';
    var reset = document.createElement('button');
    reset.textContent = 'reset zoom';
    head.appendChild(title); head.appendChild(res); head.appendChild(reset); head.appendChild(lvl);
    box.appendChild(head);
    container.appendChild(box);

    var groups = [
      {axis: 'W', label: 'host power (W)'},
      {axis: 'CPUs', label: 'CPU (CPUs busy)'}
    ];
    var plots = [];
    var syncKey = 'ts-' + trace.phase;
    var current = 0;

    function markerAt(t) {
      var m = null;
      trace.markers.forEach(function (mk) { if (mk.t <= t) m = mk; });
      return m;
    }

    function sliceFor(plot, lv, i0, i1) {
      var d = [lv.x.slice(i0, i1)];
      plot.idx.forEach(function (si) { d.push(lv.y[si].slice(i0, i1)); });
      return d;
    }

    function zoomTo(min, max) {
      var pick = 0;
      for (var li = levels.length - 1; li >= 0; li--) {
        var xs = levels[li].x;
        if (lowerBound(xs, max) - lowerBound(xs, min) <= MAX_POINTS) { pick = li; break; }
      }
      var lv = levels[pick];
      var i0 = Math.max(0, lowerBound(lv.x, min) - 1);
      var i1 = Math.min(lv.x.length, lowerBound(lv.x, max) + 1);
      current = pick;
      plots.forEach(function (p) {
        p.u.setData(sliceFor(p, lv, i0, i1), false);
        p.u.setScale('x', {min: min, max: max});
      });
      res.textContent = lv.raw ? 'full resolution' :
        'min/max envelope, bucket ' + (lv.bucket_s >= 1 ? lv.bucket_s.toFixed(2) + ' s' :
                                       (lv.bucket_s * 1000).toFixed(2) + ' ms');
      res.dataset.level = String(pick);
    }

    groups.forEach(function (g, gi) {
      var idx = [];
      trace.series.forEach(function (s, si) { if (s.axis === g.axis) idx.push(si); });
      if (!idx.length) return;
      var el = document.createElement('div');
      el.className = 'chart';
      el.id = 'ts-' + trace.phase + '-' + g.axis;
      box.appendChild(el);
      var series = [{label: 't (s)', value: function (u, v) { return fmt(v, 3); }}];
      idx.forEach(function (si, k) {
        var s = trace.series[si];
        var opt = {label: s.label, scale: g.axis, stroke: palette[(k + gi * 5) % palette.length],
                   width: 1, points: {show: false},
                   value: function (u, v) { return fmt(v, g.axis === 'W' ? 2 : 3); }};
        if (s.kind === 'estimate') { opt.width = 2; opt.dash = [6, 3]; }
        if (s.kind === 'target') { opt.paths = uPlot.paths.stepped({align: 1}); opt.stroke = '#555'; opt.dash = [2, 3]; }
        if (s.kind === 'power' && s.label.indexOf('package-global') === 0) opt.width = 1.5;
        series.push(opt);
      });
      var plot = {idx: idx};
      var opts = {
        title: g.label,
        width: width(container), height: 250,
        scales: {x: {time: false}},
        series: series,
        axes: [{label: 'seconds since the trace start'}, {scale: g.axis, label: g.axis}],
        legend: {live: true},
        cursor: {
          sync: {key: syncKey},
          drag: {x: true, y: false, setScale: false},
          bind: {dblclick: function () { return function () { zoomTo(xmin, xmax); return null; }; }}
        },
        hooks: {
          setSelect: [function (u) {
            if (u.select.width > 3) {
              var a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
              zoomTo(a, b);
            }
            u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
          }],
          setCursor: [function (u) {
            if (u.cursor.idx == null) return;
            var m = markerAt(u.data[0][u.cursor.idx]);
            lvl.textContent = m ? 'level: ' + m.label : '';
          }],
          draw: [function (u) {
            var ctx = u.ctx, x0 = u.scales.x.min, x1 = u.scales.x.max;
            ctx.save();
            ctx.strokeStyle = 'rgba(90,90,90,0.45)';
            ctx.lineWidth = 1;
            ctx.setLineDash([3, 3]);
            trace.markers.forEach(function (mk) {
              if (mk.t < x0 || mk.t > x1) return;
              var px = Math.round(u.valToPos(mk.t, 'x', true)) + 0.5;
              ctx.beginPath();
              ctx.moveTo(px, u.bbox.top);
              ctx.lineTo(px, u.bbox.top + u.bbox.height);
              ctx.stroke();
            });
            ctx.restore();
          }]
        }
      };
      plot.u = new uPlot(opts, sliceFor(plot, levels[0], 0, levels[0].x.length), el);
      plots.push(plot);
      charts.push({id: el.id, plot: plot.u});
    });
    reset.onclick = function () { zoomTo(xmin, xmax); };
    zoomTo(xmin, xmax);
    groupsDone.push({phase: trace.phase, zoomTo: zoomTo, levels: levels.length, plots: plots,
                     xmin: xmin, xmax: xmax, current: function () { return current; },
                     raw: function () { return levels[current].raw; }});
  }

  // Box plots (spec.boxes: x centre, width w, whiskers lo/hi, quartiles
  // q1/med/q3), drawn under the series; the scales are widened to hold them.
  function boxHooks(spec, opts, state) {
    var b = spec.boxes;
    function widen(lo, hi, a, z) {
      if (lo == null || !isFinite(lo)) lo = a;
      if (hi == null || !isFinite(hi)) hi = z;
      lo = Math.min(lo, a); hi = Math.max(hi, z);
      var pad = (hi - lo) * 0.05 || 1;
      return [lo - pad, hi + pad];
    }
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    b.forEach(function (k) {
      x0 = Math.min(x0, k.x - k.w / 2); x1 = Math.max(x1, k.x + k.w / 2);
      y0 = Math.min(y0, k.lo); y1 = Math.max(y1, k.hi);
    });
    opts.scales.x.range = function (u, lo, hi) { return widen(lo, hi, x0, x1); };
    opts.scales.y = {range: function (u, lo, hi) { return widen(lo, hi, y0, y1); }};
    opts.hooks = {drawClear: [function (u) {
      var ctx = u.ctx;
      state.drawn = 0;
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      ctx.strokeStyle = '#444';
      ctx.fillStyle = 'rgba(140,140,140,0.28)';
      ctx.lineWidth = 1.5;
      b.forEach(function (k) {
        var l = u.valToPos(k.x - k.w / 2, 'x', true), r = u.valToPos(k.x + k.w / 2, 'x', true);
        var m = (l + r) / 2;
        var ylo = u.valToPos(k.lo, 'y', true), yq1 = u.valToPos(k.q1, 'y', true);
        var ymd = u.valToPos(k.med, 'y', true), yq3 = u.valToPos(k.q3, 'y', true);
        var yhi = u.valToPos(k.hi, 'y', true);
        ctx.fillRect(l, yq3, r - l, yq1 - yq3);
        ctx.strokeRect(l, yq3, r - l, yq1 - yq3);
        ctx.beginPath();
        ctx.moveTo(l, ymd); ctx.lineTo(r, ymd);
        ctx.moveTo(m, yq1); ctx.lineTo(m, ylo);
        ctx.moveTo(m, yq3); ctx.lineTo(m, yhi);
        ctx.moveTo(m - (r - l) / 4, ylo); ctx.lineTo(m + (r - l) / 4, ylo);
        ctx.moveTo(m - (r - l) / 4, yhi); ctx.lineTo(m + (r - l) / 4, yhi);
        ctx.stroke();
        if (isFinite(l) && isFinite(r) && r > l && isFinite(yq1) && isFinite(yq3)) state.drawn++;
      });
      ctx.restore();
    }]};
  }

  // ---- 2-4 and the paper's figures: scatter / curve charts ----
  function xyChart(spec, container) {
    var cell = document.createElement('div');
    cell.className = spec.small ? 'cell small' : 'cell';
    container.appendChild(cell);
    if (spec.placeholder) {
      var h = document.createElement('p');
      h.className = 'missing';
      h.textContent = spec.title + ': ' + spec.note;
      cell.appendChild(h);
      return;
    }
    var el = document.createElement('div');
    el.className = 'chart';
    el.id = 'xy-' + spec.id;
    cell.appendChild(el);
    if (spec.note) {
      var p = document.createElement('p');
      p.className = 'note';
      p.textContent = spec.note;
      cell.appendChild(p);
    }
    var series = [{label: spec.x_label, value: function (u, v) { return fmt(v, 2); }}];
    var d = [spec.x];
    spec.series.forEach(function (s, i) {
      var c = palette[i % palette.length];
      var o = {label: s.label, stroke: c, value: function (u, v) { return fmt(v, 3); }};
      if (s.line) {
        o.width = 2; o.spanGaps = true; o.points = {show: false};
      } else {
        o.width = 0; o.paths = function () { return null; };
        o.points = {show: true, size: 5, stroke: c, fill: c + '99', width: 1};
      }
      series.push(o);
      d.push(s.y);
    });
    var opts = {
      title: spec.title,
      width: spec.small ? Math.min(640, width(container)) : width(container),
      height: spec.small ? 300 : 320,
      mode: 1,
      scales: {x: {time: false}},
      series: series,
      axes: [{label: spec.x_label}, {label: spec.y_label}],
      cursor: {drag: {x: true, y: true, uni: 20}}
    };
    var boxes = {drawn: 0};
    if (spec.boxes && spec.boxes.length) boxHooks(spec, opts, boxes);
    var u = new uPlot(opts, d, el);
    charts.push({id: el.id, plot: u, boxes: spec.boxes ? spec.boxes.length : 0, state: boxes});
  }

  function section(id, text) {
    var c = document.getElementById(id);
    if (text) { var p = document.createElement('p'); p.className = 'missing'; p.textContent = text; c.appendChild(p); }
    return c;
  }

  // The report has time series and figures 2-4; the compare page has
  // neither, only charts that name their container.
  var ts = document.getElementById('ts-charts');
  if (ts) {
    if (!data.traces.length) section('ts-charts', 'No trace and no original-format CSV: no time series.');
    data.traces.forEach(function (t) { timeSeriesGroup(t, ts); });
  }
  var byId = {model: 'model-charts', isolated: 'isolated-charts', ratio: 'ratio-charts'};
  var seen = {};
  data.xy.forEach(function (spec) {
    var key = spec.id.indexOf('model') === 0 ? 'model' : spec.id;
    seen[key] = true;
    xyChart(spec, document.getElementById(spec.container || byId[key]));
  });
  if (document.getElementById('model-charts')) {
    if (!seen.model) section('model-charts', 'No training CSVs: no model figure.');
    if (!seen.isolated) section('isolated-charts', 'No ground truth or isolated estimate: no figure.');
    if (!seen.ratio) section('ratio-charts', 'No isolated.csv with a ratio column: no figure.');
  }

  // ---- self-check for the browser test: did every chart draw a series? ----
  // Axes and grid are grey; series colours are saturated. A chart "drew"
  // when its canvas holds saturated pixels.
  var scratch = null;
  function saturated(plot, errors) {
    // Read through a scratch canvas made for frequent readback.
    var cv = plot.ctx.canvas, n = 0;
    try {
      if (!scratch) scratch = document.createElement('canvas');
      scratch.width = cv.width; scratch.height = cv.height;
      var sc = scratch.getContext('2d', {willReadFrequently: true});
      sc.clearRect(0, 0, cv.width, cv.height);
      sc.drawImage(cv, 0, 0);
      var px = sc.getImageData(0, 0, cv.width, cv.height).data;
      for (var i = 0; i < px.length; i += 4) {
        var r = px[i], g = px[i + 1], b = px[i + 2], a = px[i + 3];
        if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
      }
    } catch (e) { errors.push('getImageData: ' + e); }
    return n;
  }
  function check() {
    var out = {charts: [], errors: window.cinergyErrors.slice()};
    charts.forEach(function (c) {
      var cv = c.plot.ctx.canvas;
      var o = {id: c.id, pixels: saturated(c.plot, out.errors), w: cv.width, h: cv.height};
      // A box plot drew every box inside the plot area (on the last draw).
      if (c.boxes) { o.boxes = c.boxes; o.boxes_drawn = c.state.drawn; }
      out.charts.push(o);
    });
    out.ok = out.errors.length === 0 && out.charts.length > 0 &&
             out.charts.every(function (c) {
               return c.pixels > 20 && (!c.boxes || c.boxes_drawn >= c.boxes);
             });
    // With #zoomcheck: zoom every time series into 1/500 of its span, let
    // uPlot redraw, and check that a finer level was loaded and drew.
    if (location.hash !== '#zoomcheck') return publish(out);
    out.zoom = [];
    groupsDone.forEach(function (g) {
      var span = g.xmax - g.xmin, a = g.xmin + span * 0.5;
      g.zoomTo(a, a + span / 500);
    });
    setTimeout(function () {
      groupsDone.forEach(function (g) {
        var z = {phase: g.phase, level: g.current(), levels: g.levels, raw: g.raw(),
                 pixels: g.plots.map(function (p) { return saturated(p.u, out.errors); })};
        z.ok = (g.levels === 1 || z.level > 0) && z.pixels.every(function (n) { return n > 20; });
        out.zoom.push(z);
        g.zoomTo(g.xmin, g.xmax);
      });
      out.ok = out.ok && out.errors.length === 0 && out.zoom.every(function (z) { return z.ok; });
      publish(out);
    }, 50);
  }
  function publish(out) {
    document.body.setAttribute('data-render-status', JSON.stringify(out));
    document.body.setAttribute('data-render-ok', out.ok ? 'yes' : 'no');
  }
  setTimeout(check, 0);
})();
