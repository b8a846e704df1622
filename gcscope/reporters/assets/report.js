/* gcscope HTML report: draws the page's charts with uPlot from the JSON in #gcscope-data.
 *
 * Program-controlled text (trigger sites, file names) only ever reaches the DOM through
 * textContent, never innerHTML. window.gcscope exposes the charts and what they drew, for
 * the browser tests and for anyone curious.
 */
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("gcscope-data").textContent);
  const rootStyle = getComputedStyle(document.documentElement);
  const cssColour = (name, fallback) => rootStyle.getPropertyValue(name).trim() || fallback;
  const GEN_COLOURS = [0, 1, 2, 3].map((g) => cssColour("--gen" + g, "#666"));
  const genColour = (g) => GEN_COLOURS[Math.min(g, 3)];
  const RSS_COLOUR = cssColour("--rss", "#3ca951");
  const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  const AXIS_FONT = "12px " + FONT;
  const LABEL_FONT = "600 12px " + FONT;
  const MIB = 1048576;
  const FLOOR_MS = 1e-4; // a pause the clock read as 0 is drawn at 100 ns on the log scale
  const TIMELINE_HEIGHT = 300;
  const RSS_HEIGHT = 170;
  const HISTOGRAM_HEIGHT = 190;
  const STEADY_HEIGHT = 150;
  // tick steps for counts: whole numbers only
  const COUNT_STEPS = [];
  for (let e = 0; e < 10; e++) for (const m of [1, 2, 5]) COUNT_STEPS.push(m * Math.pow(10, e));

  const state = {
    log: true,
    timeline: [],
    rss: [],
    histograms: [],
    steady: [],
    timeCharts: [],
    expected: 0,
    drawn: 0,
    drawnMs: null,
    renderMs: null,
    errors: [],
  };
  window.gcscope = state;

  // -- formatting ------------------------------------------------------------------------

  function fmtMs(ms) {
    if (ms >= 100) return ms.toFixed(1) + " ms";
    if (ms >= 1) return ms.toFixed(2) + " ms";
    if (ms >= 0.1 || ms <= 0) return ms.toFixed(3) + " ms";
    return ms.toPrecision(3) + " ms"; // young collections take microseconds
  }
  function fmtTickMs(v) {
    if (v == null) return ""; // a tick uPlot dropped for lack of room
    if (v >= 1) return String(+v.toPrecision(6));
    return String(+v.toPrecision(1));
  }
  function fmtBytes(b) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = b;
    let unit = 0;
    while (Math.abs(value) >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value.toFixed(0) : value.toFixed(1)) + " " + units[unit];
  }
  const thousands = (n) => n.toLocaleString("en-US");

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  // first index i with values[i] >= target (values sorted ascending)
  function lowerBound(values, target) {
    let lo = 0;
    let hi = values.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (values[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function axis(label, extra) {
    return Object.assign(
      {
        label: label,
        labelFont: LABEL_FONT,
        labelSize: 18,
        labelGap: 0,
        font: AXIS_FONT,
        stroke: "#59636e",
        grid: { stroke: "#eaeef2", width: 1 },
        ticks: { stroke: "#d1d9e0", width: 1, size: 4 },
      },
      extra || {}
    );
  }

  // ticks of a log axis: powers of ten, and 2 and 5 times them when the range is narrow
  function decadeSplits(u, axisIdx, min, max) {
    const steps = Math.log10(max / min) < 2.5 ? [1, 2, 5] : [1];
    const splits = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
      for (const step of steps) {
        const v = step * Math.pow(10, e);
        if (v >= min * 0.999 && v <= max * 1.001) splits.push(v);
      }
    }
    return splits;
  }
  const logAxisValues = (u, splits) => splits.map(fmtTickMs);
  // seconds with as many decimals as the tick step needs (a 1 ms run still reads)
  const secondsValues = (u, splits, axisIdx, space, step) => {
    const decimals = Math.min(6, (String(+step.toPrecision(6)).split(".")[1] || "").length);
    return splits.map((v) => (v == null ? "" : v.toFixed(decimals)));
  };

  function logRange(low, high) {
    const lo = Math.pow(10, Math.floor(Math.log10(Math.max(low, FLOOR_MS))));
    let hi = Math.pow(10, Math.ceil(Math.log10(Math.max(high, FLOOR_MS))));
    if (hi <= lo) hi = lo * 10;
    return [lo, hi];
  }

  // -- bookkeeping: when has everything drawn once ----------------------------------------

  function countDraw(u) {
    if (u.gcscopeDrawn) return;
    u.gcscopeDrawn = true;
    state.drawn += 1;
    if (state.drawn === state.expected) allDrawn();
  }
  function allDrawn() {
    state.drawnMs = performance.now();
    performance.mark("gcscope-charts-drawn");
    requestAnimationFrame(() => {
      state.renderMs = performance.now();
      document.documentElement.dataset.rendered = "true";
    });
  }

  function tooltipFor(u) {
    if (!u.gcscopeTip) {
      u.gcscopeTip = element("div", "tooltip");
      u.gcscopeTip.hidden = true;
      u.gcscopeMarker = element("div", "marker");
      u.gcscopeMarker.hidden = true;
      u.over.appendChild(u.gcscopeMarker);
      u.over.appendChild(u.gcscopeTip);
    }
    return u.gcscopeTip;
  }
  function hideTooltip(u) {
    if (u.gcscopeTip) {
      u.gcscopeTip.hidden = true;
      u.gcscopeMarker.hidden = true;
    }
  }
  function placeTooltip(u, left, top) {
    const tip = u.gcscopeTip;
    tip.hidden = false;
    const width = tip.offsetWidth;
    const height = tip.offsetHeight;
    const overWidth = u.over.clientWidth;
    let x = left + 14;
    if (x + width > overWidth) x = Math.max(0, left - width - 14);
    let y = top + 14;
    if (y + height > u.over.clientHeight + 40) y = Math.max(-20, top - height - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function tipLines(tip, title, colour, lines) {
    tip.replaceChildren();
    const head = element("div", "tip-title");
    if (colour) {
      const swatch = element("span", "swatch");
      swatch.style.color = colour;
      head.appendChild(swatch);
    }
    head.appendChild(document.createTextNode(title));
    tip.appendChild(head);
    for (const [cls, text] of lines) if (text) tip.appendChild(element("div", cls, text));
  }

  // -- the pause timeline -------------------------------------------------------------------

  // vertical stems from the bottom of the plot to each value: one line per collection
  function stems(u, seriesIdx, idx0, idx1) {
    const xs = u.data[0];
    const ys = u.data[seriesIdx];
    const path = new Path2D();
    const base = u.bbox.top + u.bbox.height;
    let shown = 0;
    let lastX = -1;
    let lastTop = Infinity;
    for (let i = idx0; i <= idx1; i++) {
      const y = ys[i];
      if (y == null) continue;
      shown += 1;
      const x = Math.round(u.valToPos(xs[i], "x", true)) + 0.5;
      const top = Math.round(u.valToPos(y, "ms", true));
      if (x === lastX) {
        if (top >= lastTop) continue; // a taller stem already covers this pixel column
      } else {
        lastX = x;
      }
      lastTop = top;
      path.moveTo(x, base);
      path.lineTo(x, top);
    }
    u.gcscopeShown[seriesIdx] = shown;
    return { stroke: path, fill: null, clip: null, flags: 0 };
  }

  function timelineData(capture) {
    const events = capture.events;
    const n = events.start_ns.length;
    const generations = DATA.generation_count;
    const xs = new Array(n + 2);
    const series = [];
    for (let g = 0; g < generations; g++) series.push(new Array(n + 2).fill(null));
    // sentinels at 0 and the longest wall time: every chart spans the same time axis
    xs[0] = 0;
    for (let i = 0; i < n; i++) {
      xs[i + 1] = events.start_ns[i] / 1e9;
      const g = Math.min(events.generation[i], generations - 1);
      series[g][i + 1] = Math.max(events.pause_ns[i] / 1e6, FLOOR_MS);
    }
    xs[n + 1] = Math.max(DATA.limits.time_s, n ? xs[n] : 0);
    return [xs].concat(series);
  }

  function pickEvent(u, capture, left, top) {
    const xs = u.data[0];
    const n = capture.events.start_ns.length;
    const from = lowerBound(xs, u.posToVal(left - 5, "x"));
    const to = u.posToVal(left + 5, "x");
    let best = -1;
    let bestScore = Infinity;
    let bestPos = null;
    for (let i = Math.max(from, 1); i <= n && xs[i] <= to; i++) {
      const g = Math.min(capture.events.generation[i - 1], DATA.generation_count - 1);
      const y = u.data[g + 1][i];
      const xPos = u.valToPos(xs[i], "x");
      const yPos = u.valToPos(y, "ms");
      const dx = Math.abs(xPos - left);
      // a stem that reaches up to the cursor wins (the nearest such); else the nearest top
      const score = yPos <= top + 3 ? dx : 1000 + Math.hypot(dx, yPos - top);
      if (score < bestScore) {
        bestScore = score;
        best = i - 1;
        bestPos = [xPos, yPos];
      }
    }
    return bestScore <= 1040 ? { event: best, pos: bestPos } : null;
  }

  function showEventTooltip(u, capture, left, top) {
    const tip = tooltipFor(u);
    if (left == null || left < 0 || top < 0) return hideTooltip(u);
    const picked = pickEvent(u, capture, left, top);
    if (!picked) return hideTooltip(u);
    const e = picked.event;
    const events = capture.events;
    const g = events.generation[e];
    const site = events.site[e] == null ? null : capture.sites[events.site[e]];
    tipLines(tip, "gen " + g + " collection", genColour(g), [
      ["", "pause " + fmtMs(events.pause_ns[e] / 1e6) + " at " + (events.start_ns[e] / 1e9).toFixed(3) + " s"],
      ["", "collected " + thousands(events.collected[e]) + ", uncollectable " + thousands(events.uncollectable[e])],
      ["tip-site", site ? "triggered at " + site.program : "trigger site not kept (past the first 1,000 sites)"],
      ["tip-site", site && site.innermost ? "innermost frame " + site.innermost : ""],
    ]);
    tip.dataset.generation = String(g);
    tip.dataset.event = String(e);
    const marker = u.gcscopeMarker;
    marker.hidden = false;
    marker.style.left = picked.pos[0] + "px";
    marker.style.top = picked.pos[1] + "px";
    marker.style.borderColor = genColour(g);
    placeTooltip(u, left, top);
  }

  // grey out the time after the program ended (gcscope's own end-of-run work, other captures)
  function shadeAfterEnd(u, capture) {
    const end = u.valToPos(capture.wall_s, "x", true);
    const right = u.bbox.left + u.bbox.width;
    if (end >= right - 1) return;
    const left = Math.max(end, u.bbox.left);
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(89, 99, 110, 0.08)";
    ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
    if (left === end) {
      ctx.strokeStyle = "#59636e";
      ctx.lineWidth = uPlot.pxRatio;
      ctx.setLineDash([3 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
      ctx.beginPath();
      ctx.moveTo(Math.round(end) + 0.5, u.bbox.top);
      ctx.lineTo(Math.round(end) + 0.5, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#59636e";
      ctx.font = Math.round(11 * uPlot.pxRatio) + "px " + FONT;
      ctx.textBaseline = "top";
      ctx.textAlign = "left";
      const label = "program ended";
      const width = ctx.measureText(label).width;
      if (right - end > width + 8 * uPlot.pxRatio) ctx.fillText(label, end + 4 * uPlot.pxRatio, u.bbox.top + 3 * uPlot.pxRatio);
    }
    ctx.restore();
  }

  function syncTime(u, key) {
    if (key !== "x") return;
    const min = u.scales.x.min;
    const max = u.scales.x.max;
    for (const other of state.timeCharts) {
      if (other !== u && (other.scales.x.min !== min || other.scales.x.max !== max)) {
        other.setScale("x", { min: min, max: max });
      }
    }
  }

  function timeCursor() {
    return { y: false, sync: { key: "gcscope-time", setSeries: false }, drag: { x: true, y: false }, points: { show: false } };
  }

  function makeTimeline(container, capture, xRange) {
    const limits = DATA.limits;
    const yScale = state.log
      ? { distr: 3, log: 10, range: () => logRange(limits.pause_min_ms, limits.pause_ms) }
      : { range: () => [0, Math.max(limits.pause_ms, FLOOR_MS) * 1.05] };
    const series = [{}];
    for (let g = 0; g < DATA.generation_count; g++) {
      series.push({ label: "gen " + g, scale: "ms", stroke: genColour(g), width: 1, paths: stems, points: { show: false } });
    }
    const yAxis = state.log
      ? axis("pause (ms, log scale)", { scale: "ms", splits: decadeSplits, values: logAxisValues, size: 60 })
      : axis("pause (ms)", { scale: "ms", size: 60 });
    const u = new uPlot(
      {
        width: container.clientWidth,
        height: TIMELINE_HEIGHT,
        legend: { show: false },
        cursor: timeCursor(),
        scales: { x: { time: false }, ms: yScale },
        series: series,
        axes: [axis("time since start (s)", { size: 34, space: 80, values: secondsValues }), yAxis],
        hooks: {
          drawAxes: [(self) => shadeAfterEnd(self, capture)],
          draw: [countDraw],
          setCursor: [(self) => showEventTooltip(self, capture, self.cursor.left, self.cursor.top)],
          setScale: [syncTime],
        },
      },
      timelineData(capture),
      container
    );
    u.gcscopeShown = {};
    u.gcscopeKind = "timeline";
    if (xRange) u.setScale("x", xRange);
    return u;
  }

  // -- RSS -----------------------------------------------------------------------------------

  function rssData(capture) {
    const t = capture.rss.t;
    const xs = [0].concat(t, [Math.max(DATA.limits.time_s, t.length ? t[t.length - 1] : 0)]);
    const ys = [null].concat(capture.rss.bytes.map((b) => b / MIB), [null]);
    return [xs, ys];
  }

  function showRssTooltip(u, capture, left) {
    const tip = tooltipFor(u);
    const n = capture.rss.t.length;
    if (left == null || left < 0 || !n) return hideTooltip(u);
    const xs = u.data[0];
    const x = u.posToVal(left, "x");
    let i = Math.min(Math.max(lowerBound(xs, x), 1), n);
    if (i > 1 && Math.abs(xs[i - 1] - x) < Math.abs(xs[i] - x)) i -= 1;
    const bytes = capture.rss.bytes[i - 1];
    tipLines(tip, "RSS " + fmtBytes(bytes), RSS_COLOUR, [["", "sampled at " + xs[i].toFixed(3) + " s"]]);
    const marker = u.gcscopeMarker;
    marker.hidden = false;
    marker.style.left = u.valToPos(xs[i], "x") + "px";
    marker.style.top = u.valToPos(bytes / MIB, "mib") + "px";
    marker.style.borderColor = RSS_COLOUR;
    placeTooltip(u, left, u.valToPos(bytes / MIB, "mib"));
  }

  function makeRss(container, capture) {
    const top = Math.max(DATA.limits.rss_bytes / MIB, 1) * 1.08;
    const u = new uPlot(
      {
        width: container.clientWidth,
        height: RSS_HEIGHT,
        legend: { show: false },
        cursor: timeCursor(),
        scales: { x: { time: false }, mib: { range: () => [0, top] } },
        series: [
          {},
          {
            label: "RSS",
            scale: "mib",
            stroke: RSS_COLOUR,
            width: 1.5,
            fill: RSS_COLOUR + "26",
            points: { show: capture.rss.t.length <= 60, size: 5 }, // few samples: show each
          },
        ],
        axes: [axis("time since start (s)", { size: 34, space: 80, values: secondsValues }), axis("RSS (MiB)", { scale: "mib", size: 60 })],
        hooks: {
          drawAxes: [(self) => shadeAfterEnd(self, capture)],
          draw: [countDraw],
          setCursor: [(self) => showRssTooltip(self, capture, self.cursor.left)],
          setScale: [syncTime],
        },
      },
      rssData(capture),
      container
    );
    u.gcscopeKind = "rss";
    u.gcscopeShown = { 1: capture.rss.t.length };
    return u;
  }

  // -- pause histograms -------------------------------------------------------------------

  function bucketBars(edges) {
    return (u, seriesIdx, idx0, idx1) => {
      const counts = u.data[seriesIdx];
      const path = new Path2D();
      const base = u.valToPos(0, "y", true);
      for (let i = idx0; i <= idx1; i++) {
        if (!counts[i]) continue;
        const x0 = u.valToPos(edges[i], "x", true);
        const x1 = u.valToPos(edges[i + 1], "x", true);
        const top = u.valToPos(counts[i], "y", true);
        path.rect(x0 + 1, top, Math.max(x1 - x0 - 2, 1), base - top);
      }
      return { stroke: path, fill: path, clip: null, flags: 0 };
    };
  }

  function drawMarks(u, pauses) {
    const ctx = u.ctx;
    const ratio = uPlot.pxRatio;
    const marks = [["p50", pauses.p50], ["p95", pauses.p95], ["p99", pauses.p99], ["max", pauses.max]];
    ctx.save();
    ctx.font = Math.round(11 * ratio) + "px " + FONT;
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    const rowEnds = []; // right edge of the last label in each row, so labels never overlap
    marks.forEach(([name, value]) => {
      const x = Math.round(u.valToPos(Math.max(value, FLOOR_MS), "x", true)) + 0.5;
      if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) return;
      ctx.strokeStyle = name === "max" ? "#1f2328" : "#59636e";
      ctx.lineWidth = ratio;
      ctx.setLineDash(name === "max" ? [] : [4 * ratio, 3 * ratio]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      const label = name;
      const width = ctx.measureText(label).width;
      const flip = x + width + 4 * ratio > u.bbox.left + u.bbox.width;
      const textX = flip ? x - width - 3 * ratio : x + 3 * ratio;
      let row = rowEnds.findIndex((end) => end < textX - 2 * ratio);
      if (row < 0) row = rowEnds.length;
      rowEnds[row] = textX + width;
      const y = u.bbox.top + (2 + row * 13) * ratio;
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.fillRect(textX - ratio, y, width + 2 * ratio, 12 * ratio);
      ctx.fillStyle = name === "max" ? "#1f2328" : "#59636e";
      ctx.fillText(label, textX, y);
    });
    ctx.restore();
  }

  function showBucketTooltip(u, edges, entry) {
    const tip = tooltipFor(u);
    const i = u.cursor.idx;
    if (i == null || u.cursor.left < 0) return hideTooltip(u);
    const count = u.data[1][i];
    tipLines(tip, thousands(count) + " collections", genColour(entry.generation), [
      ["", "pause " + fmtTickMs(edges[i]) + " to " + fmtTickMs(edges[i + 1]) + " ms"],
    ]);
    u.gcscopeMarker.hidden = true;
    placeTooltip(u, u.cursor.left, u.cursor.top);
  }

  function makeHistogram(container, capture, generation) {
    const edges = DATA.histogram_edges_ms;
    const entry = capture.generations[generation];
    const centres = edges.slice(0, -1).map((e, i) => Math.sqrt(e * edges[i + 1]));
    const highest = Math.max(DATA.limits.histogram_count[generation] || 1, 1) * 1.15;
    const u = new uPlot(
      {
        width: container.clientWidth,
        height: HISTOGRAM_HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false }, y: false },
        scales: {
          x: { time: false, distr: 3, log: 10, range: () => DATA.limits.histogram_range_ms[generation] },
          y: { range: () => [0, highest] },
        },
        series: [
          {},
          {
            label: "gen " + entry.generation,
            stroke: genColour(entry.generation),
            fill: genColour(entry.generation) + "cc",
            width: 0,
            paths: bucketBars(edges),
            points: { show: false },
          },
        ],
        axes: [
          axis("pause (ms, log scale)", { size: 34, splits: decadeSplits, values: logAxisValues }),
          axis("collections", { size: 56, incrs: COUNT_STEPS }),
        ],
        hooks: {
          draw: [countDraw, (self) => drawMarks(self, entry.pause_ms)],
          setCursor: [(self) => showBucketTooltip(self, edges, entry)],
        },
      },
      [centres, entry.counts],
      container
    );
    u.gcscopeKind = "histogram";
    u.gcscopeShown = { 1: entry.counts.reduce((a, b) => a + b, 0) };
    return u;
  }

  // -- steady growth: one small chart per site ---------------------------------------------

  function makeSteady(container, entry) {
    const largest = Math.max(...entry.bytes, 1);
    const [unit, scale] = largest >= MIB ? ["MiB", MIB] : largest >= 1024 ? ["KiB", 1024] : ["bytes", 1];
    const u = new uPlot(
      {
        width: container.clientWidth,
        height: STEADY_HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, y: false },
        scales: { x: { time: false } },
        series: [
          {},
          { label: "size", stroke: GEN_COLOURS[0], width: 1.5, fill: GEN_COLOURS[0] + "22", points: { show: true, size: 5 } },
        ],
        axes: [
          axis("time since start (s)", { size: 34, space: 80, values: secondsValues }),
          axis("size (" + unit + ")", { size: 56, values: (self, splits) => splits.map((v) => (v == null ? "" : String(+v.toPrecision(4)))) }),
        ],
        hooks: { draw: [countDraw] },
      },
      [entry.t, entry.bytes.map((b) => b / scale)],
      container
    );
    u.gcscopeKind = "steady";
    return u;
  }

  // -- tables ------------------------------------------------------------------------------

  function sortTable(table, column, heading) {
    const numeric = heading.dataset.sort === "number";
    const current = heading.getAttribute("aria-sort");
    const direction = current === "descending" ? "ascending" : current === "ascending" ? "descending" : numeric ? "descending" : "ascending";
    for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
    heading.setAttribute("aria-sort", direction);
    const sign = direction === "ascending" ? 1 : -1;
    const key = (row) => (numeric ? parseFloat(row.cells[column].dataset.value) : row.cells[column].textContent);
    const rows = Array.from(table.tBodies[0].rows);
    rows.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return sign * (numeric ? ka - kb : ka.localeCompare(kb));
    });
    table.tBodies[0].append(...rows);
  }

  function setUpTables() {
    for (const table of document.querySelectorAll("table.sortable")) {
      Array.from(table.tHead.rows[0].cells).forEach((heading, column) => {
        heading.addEventListener("click", () => sortTable(table, column, heading));
      });
    }
  }

  // -- page --------------------------------------------------------------------------------

  function chartsOf(kind) {
    return Array.from(document.querySelectorAll('.chart[data-chart="' + kind + '"]'));
  }

  function buildTimelines(xRange) {
    state.timeline.forEach((u) => u.destroy());
    state.timeline = chartsOf("timeline").map((container) =>
      makeTimeline(container, DATA.captures[+container.dataset.capture], xRange)
    );
    state.timeCharts = state.timeline.concat(state.rss);
  }

  function build() {
    const timelines = chartsOf("timeline");
    const rss = chartsOf("rss").filter((c) => DATA.captures[+c.dataset.capture].rss.t.length);
    const histograms = chartsOf("histogram");
    const steady = chartsOf("steady");
    state.expected = timelines.length + rss.length + histograms.length + steady.length;
    if (!state.expected) allDrawn();
    state.rss = rss.map((container) => makeRss(container, DATA.captures[+container.dataset.capture]));
    buildTimelines(null);
    state.histograms = histograms.map((container) =>
      makeHistogram(container, DATA.captures[+container.dataset.capture], +container.dataset.generation)
    );
    state.steady = steady.map((container) =>
      makeSteady(container, DATA.captures[+container.dataset.capture].steady[+container.dataset.steady])
    );
    setUpTables();

    const toggle = document.getElementById("scale-toggle");
    toggle.addEventListener("click", () => {
      state.log = !state.log;
      toggle.textContent = state.log ? "linear scale" : "log scale";
      const first = state.timeline[0];
      const xRange = first ? { min: first.scales.x.min, max: first.scales.x.max } : null;
      buildTimelines(xRange);
    });

    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(() => {
        for (const u of [].concat(state.timeline, state.rss, state.histograms, state.steady)) {
          u.setSize({ width: u.root.parentNode.clientWidth, height: u.height });
        }
      }, 100);
    });
  }

  build();
})();
