// Small SVG charts drawn at the container's pixel size (text stays crisp; redrawn on resize).
// Every text goes in through textContent: brand and source names are data, never markup.

const SVG_NS = "http://www.w3.org/2000/svg";
const MARGIN = { top: 12, right: 16, bottom: 26, left: 56 };

function svg(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function text(content, attrs, parent) {
  const node = svg("text", attrs, parent);
  node.textContent = content;
  return node;
}

// Whole-number ticks from 0 past `max`: the data are counts.
function countTicks(max, count = 4) {
  if (max <= 0) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 2.5, 5, 10].find((n) => n * magnitude >= raw) * magnitude);
  const ticks = [];
  for (let value = 0; value < max + step; value += step) ticks.push(value);
  return ticks;
}

function showEmpty(container, message) {
  const note = document.createElement("div");
  note.className = "empty";
  note.textContent = message;
  container.replaceChildren(note);
}

// The plot area with its y grid; x maps the domain onto the width, y a count onto the height.
function frame(container, { label, domain, yMax, formatY }) {
  const width = container.clientWidth;
  const height = container.clientHeight;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  container.replaceChildren(root);
  document.getElementById("tooltip").hidden = true; // it may belong to the drawing just replaced
  const [x0, x1] = domain;
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom;
  const ticks = countTicks(yMax);
  const yTop = ticks[ticks.length - 1];
  const x = (value) => left + ((value - x0) / (x1 - x0 || 1)) * (right - left);
  const y = (value) => bottom - (value / yTop) * (bottom - top);
  const axis = svg("g", { class: "axis", "aria-hidden": "true" }, root);
  for (const tick of ticks) {
    svg("line", { class: tick === 0 ? "base" : "grid", x1: left, x2: right, y1: y(tick), y2: y(tick) }, axis);
    text(formatY(tick), { x: left - 8, y: y(tick), "text-anchor": "end", "dominant-baseline": "middle" }, axis);
  }
  return { root, axis, x, y, left, right, top, bottom };
}

function xLabels(plot, values, format) {
  values.forEach((value, i) => {
    const anchor = i === 0 && values.length > 1 ? "start" : i === values.length - 1 && values.length > 1 ? "end" : "middle";
    text(format(value), { x: plot.x(value), y: plot.bottom + 17, "text-anchor": anchor }, plot.axis);
  });
}

// A dashed cursor and a tooltip following the pointer to the nearest point.
function hover(plot, xs, tooltipLines, dots = () => []) {
  const tooltip = document.getElementById("tooltip");
  const cursor = svg("g", { visibility: "hidden", "aria-hidden": "true" }, plot.root);
  const rule = svg("line", { class: "cursor", y1: plot.top, y2: plot.bottom }, cursor);
  const overlay = svg("rect", {
    x: plot.left, y: plot.top, width: plot.right - plot.left, height: plot.bottom - plot.top, fill: "transparent",
  }, plot.root);
  overlay.addEventListener("pointermove", (event) => {
    const bounds = plot.root.getBoundingClientRect();
    const px = event.clientX - bounds.left;
    let nearest = 0;
    xs.forEach((value, i) => { if (Math.abs(plot.x(value) - px) < Math.abs(plot.x(xs[nearest]) - px)) nearest = i; });
    rule.setAttribute("x1", plot.x(xs[nearest]));
    rule.setAttribute("x2", plot.x(xs[nearest]));
    cursor.querySelectorAll("circle").forEach((dot) => dot.remove());
    for (const dot of dots(nearest)) svg("circle", { ...dot, r: 4, class: `cursor-dot ${dot.class}` }, cursor);
    cursor.setAttribute("visibility", "visible");
    tooltip.replaceChildren(...tooltipLines(nearest).map((line, i) => {
      const row = document.createElement(i === 0 ? "strong" : "div");
      row.textContent = line;
      return row;
    }));
    tooltip.hidden = false;
    const flip = event.clientX > window.innerWidth - 240;
    tooltip.style.left = `${flip ? event.clientX - tooltip.offsetWidth - 14 : event.clientX + 14}px`;
    tooltip.style.top = `${event.clientY + 14}px`;
  });
  overlay.addEventListener("pointerleave", () => {
    cursor.setAttribute("visibility", "hidden");
    tooltip.hidden = true;
  });
}

// Lines (with a light area) over x; `series` are [{key, name}] and each point has those keys.
export function lineChart(container, { label, points, x, series, domain, ticks, formatX, formatY, title }) {
  if (!points.length) return showEmpty(container, "No data yet");
  const yMax = Math.max(...points.flatMap((p) => series.map((s) => p[s.key])));
  const plot = frame(container, { label, domain, yMax, formatY });
  xLabels(plot, ticks, formatX);
  series.forEach(({ key }, i) => {
    const coords = points.map((p) => `${plot.x(x(p)).toFixed(1)},${plot.y(p[key]).toFixed(1)}`);
    if (i === 0) { // one shaded area only: overlapping tints would muddy each other
      const base = `${plot.x(x(points[0])).toFixed(1)},${plot.y(0)}`;
      const end = `${plot.x(x(points[points.length - 1])).toFixed(1)},${plot.y(0)}`;
      svg("polygon", { class: `area-${key}`, points: [base, ...coords, end].join(" ") }, plot.root);
    }
    svg("polyline", { class: `series-${key}`, points: coords.join(" "), "stroke-linejoin": "round" }, plot.root);
  });
  hover(plot, points.map(x),
    (i) => [title(points[i]), ...series.map((s) => `${s.name}: ${formatY(points[i][s.key])}`)],
    (i) => series.map((s) => ({ cx: plot.x(x(points[i])), cy: plot.y(points[i][s.key]), class: `dot-${s.key}` })));
}

// Stacked columns spanning [from, to) on x; `stacks` are [{key, name, cls?(column)}].
export function columnChart(container, { label, columns, stacks, domain, ticks, formatX, formatY, title, valueLabels, emptyText }) {
  if (!columns.length) return showEmpty(container, emptyText ?? "No data yet");
  const total = (c) => stacks.reduce((sum, s) => sum + c[s.key], 0);
  const plot = frame(container, { label, domain, yMax: Math.max(...columns.map(total)), formatY });
  xLabels(plot, ticks, formatX);
  const gap = plot.x(columns[0].to) - plot.x(columns[0].from) > 8 ? 2 : 0.5;
  for (const column of columns) {
    const left = plot.x(column.from) + gap / 2;
    const width = Math.max(0.5, plot.x(column.to) - plot.x(column.from) - gap);
    let height = 0;
    for (const stack of stacks) {
      const value = column[stack.key];
      if (value > 0) {
        svg("rect", {
          class: stack.cls ? stack.cls(column) : `col-${stack.key}`,
          x: left, width, y: plot.y(height + value), height: plot.y(height) - plot.y(height + value), rx: width > 6 ? 2 : 0,
        }, plot.root);
      }
      height += value;
    }
    if (valueLabels) {
      text(formatY(height), { class: "col-label", x: left + width / 2, y: plot.y(height) - 5, "text-anchor": "middle" }, plot.root);
    }
  }
  hover(plot, columns.map((c) => (c.from + c.to) / 2),
    (i) => [title(columns[i]), ...stacks.map((s) => `${s.name}: ${formatY(columns[i][s.key])}`)]);
}

// A labelled list of horizontal bars: real text, so it reads the same without the bars.
export function barList(container, { items, name, value, format, detail, max, alt }) {
  if (!items.length) {
    const note = document.createElement("p");
    note.className = "empty-note";
    note.textContent = "No data yet";
    return container.replaceChildren(note);
  }
  const list = document.createElement("ol");
  list.className = alt ? "bars alt" : "bars";
  const top = max ?? Math.max(...items.map(value));
  for (const item of items) {
    const row = document.createElement("li");
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name(item);
    label.title = name(item);
    if (detail) {
      const small = document.createElement("span");
      small.className = "detail";
      small.textContent = detail(item);
      label.appendChild(small);
    }
    const track = document.createElement("span");
    track.className = "track";
    track.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${top > 0 ? (100 * value(item)) / top : 0}%`;
    track.appendChild(fill);
    const amount = document.createElement("span");
    amount.className = "value";
    amount.textContent = format(value(item));
    row.append(label, track, amount);
    list.appendChild(row);
  }
  container.replaceChildren(list);
}

// A plain table: the accessible twin of a chart.
export function dataTable(container, { headers, rows }) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const header of headers) {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.textContent = header;
    head.appendChild(cell);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const value of row) line.insertCell().textContent = value;
  }
  container.replaceChildren(table);
}
