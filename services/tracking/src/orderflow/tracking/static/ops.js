// The ops dashboard: reads the analytics and operations endpoints every few seconds and redraws.
"use strict";

const REFRESH_MS = 3000;

async function json(path) {
  const answer = await fetch(path);
  if (!answer.ok) throw new Error(path + " answered " + answer.status);
  return answer.json();
}

function rows(tableId, cells) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...cells.map((values) => {
    const row = document.createElement("tr");
    values.forEach((value) => { const cell = document.createElement("td"); cell.textContent = value; row.append(cell); });
    return row;
  }));
}

const WINDOW_MINUTES = 60;

// Every minute of the window, one without orders as 0: an outage shows as a drop to nothing.
function perMinute(throughput, until) {
  if (!throughput.length) return [];
  const totals = new Map();
  throughput.forEach((row) => totals.set(row.minute, (totals.get(row.minute) || 0) + row.orders));
  return Array.from({ length: WINDOW_MINUTES }, (_, index) => {
    const minute = new Date(until - (WINDOW_MINUTES - 1 - index) * 60000).toISOString().slice(0, 16);
    return { label: minute.slice(11), value: totals.get(minute) || 0 };
  });
}

async function refresh() {
  const until = Date.now();  // the window the API answers and the chart draws, minute for minute
  const lastHour = `/analytics/throughput?minutes=${WINDOW_MINUTES}&until=${encodeURIComponent(new Date(until).toISOString())}`;
  const [throughput, funnel, leadTimes, skus, lag, reasons, stock, letters] = await Promise.all([
    json(lastHour), json("/analytics/funnel"), json("/analytics/lead-times"),
    json("/analytics/sales?by=sku&limit=10"), json("/ops/consumers"), json("/analytics/reasons"),
    json("/analytics/stock"), json("/ops/dead-letters"),
  ]);
  columnChart(document.getElementById("throughput"), perMinute(throughput, until));
  barChart(document.getElementById("funnel"), Object.entries(funnel).map(([label, value]) => ({ label: label.replace(/_/g, " "), value })));
  barChart(document.getElementById("lead-times"), Object.entries(leadTimes).flatMap(([name, figures]) => figures.count ? [
    { label: name.replace(/_/g, " ") + " p50", value: figures.p50_s },
    { label: name.replace(/_/g, " ") + " p95", value: figures.p95_s },
  ] : []), "#12805c");
  barChart(document.getElementById("top-skus"), skus.map((row) => ({ label: `${row.sku} (${row.revenue} ${row.currency})`, value: row.units })));
  barChart(document.getElementById("lag"), lag.map((row) => ({ label: row.group.replace("orderflow.", ""), value: row.lag })), "#b54708");
  barChart(document.getElementById("reasons"), reasons.map((row) => ({ label: `${row.kind}: ${row.reason}`, value: row.count })), "#c4320a");
  rows("low-stock", stock.low_stock.map((row) => [row.sku, row.warehouse, row.available, new Date(row.at).toLocaleString()]));
  document.getElementById("dead-letter-count").textContent = String(letters.count);
  rows("dead-letters", letters.latest.map((row) => [new Date(row.at).toLocaleString(), row.group, row.reason, row.error]));
  document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
}

async function loop() {
  try { await refresh(); document.body.dataset.loaded = "true"; }
  catch (error) { document.getElementById("refreshed").textContent = String(error); }
  setTimeout(loop, REFRESH_MS);
}
loop();
