// Two small SVG charts, written here rather than vendored: horizontal bars (label, value) and
// columns over time. Each chart notes how many data points it drew in `data-points`. A chart is
// drawn at the width it has on the page (one unit a pixel), so its text keeps its font size.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function svgNode(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attributes).forEach(([name, value]) => node.setAttribute(name, value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function widthOf(svg) {
  return Math.max(240, Math.round(svg.getBoundingClientRect().width) || 520);
}

function emptyChart(svg, width, note) {
  svg.setAttribute("viewBox", `0 0 ${width} 40`);
  svg.replaceChildren(svgNode("text", { x: 8, y: 24, class: "empty" }, note));
  svg.dataset.points = "0";
}

function barChart(svg, items, colour) {
  const width = widthOf(svg), row = 24, labelWidth = Math.min(170, Math.round(width * 0.45));
  if (!items.length) return emptyChart(svg, width, "no data yet");
  const most = Math.max(...items.map((item) => item.value), 1);
  svg.setAttribute("viewBox", `0 0 ${width} ${items.length * row + 8}`);
  svg.replaceChildren(...items.flatMap((item, index) => {
    const y = index * row + 4, length = Math.max(1, (width - labelWidth - 60) * item.value / most);
    return [
      svgNode("text", { x: 0, y: y + 15 }, item.label.length > 26 ? item.label.slice(0, 25) + "…" : item.label),
      svgNode("rect", { x: labelWidth, y, width: length, height: row - 6, rx: 3, fill: colour || "#2f6fed", "data-value": item.value }),
      svgNode("text", { x: labelWidth + length + 6, y: y + 15 }, String(item.value)),
    ];
  }));
  svg.dataset.points = String(items.length);
}

function columnChart(svg, points, colour) {
  const width = widthOf(svg), height = 180, bottom = 20;
  if (!points.length) return emptyChart(svg, width, "no orders in the last hour");
  const most = Math.max(...points.map((point) => point.value), 1);
  const step = Math.min(width / points.length, 48);  // a lone minute is a column, not a wall
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const columns = points.map((point, index) => {
    const tall = Math.max(1, (height - bottom - 14) * point.value / most);
    return svgNode("rect", {
      x: index * step + 1, y: height - bottom - tall, width: Math.max(1, step - 2), height: tall,
      fill: colour || "#2f6fed", "data-value": point.value,
    }, undefined);
  });
  const first = points[0].label, last = points[points.length - 1].label;
  const lastX = Math.max(points.length * step, 40);
  svg.replaceChildren(
    ...columns,
    svgNode("text", { x: 0, y: height - 4 }, first),
    ...(points.length > 1 ? [svgNode("text", { x: lastX, y: height - 4, "text-anchor": "end" }, last)] : []),
    svgNode("text", { x: width, y: 10, "text-anchor": "end" }, "max " + most + "/min"),
  );
  svg.dataset.points = String(points.length);
}
