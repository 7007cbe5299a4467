// The customer tracking page: look an order up, show its timeline, and follow its status
// changes over server-sent events, re-reading the order on each change (no reload).
"use strict";

const STEP_NAMES = {
  OrderPlaced: "Order placed", StockReserved: "Items reserved", PaymentAuthorized: "Payment authorised",
  PaymentDeclined: "Payment declined", ShipmentCreated: "Being prepared", Shipped: "Shipped",
  Invoiced: "Invoiced", Delivered: "Delivered", OrderCompleted: "Completed",
  OrderCancelled: "Cancelled", OrderRejected: "Rejected", StockReleased: "Reservation released",
  StockReservationFailed: "Out of stock", BackorderFilled: "Backordered items in stock",
  FulfillmentStopped: "Shipping stopped", ShipmentRefused: "Carrier refused a parcel",
  CreditNoteIssued: "Credit note issued",
};
let stream = null;

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function when(at) { return new Date(at).toLocaleString(); }

function render(order) {
  document.getElementById("result").hidden = false;
  document.getElementById("message").textContent = "";
  document.getElementById("order-id").textContent = order.order_id;
  const status = document.getElementById("status");
  status.textContent = order.status.replace(/_/g, " ");
  status.dataset.status = order.status;
  document.getElementById("updated").textContent = "Last update " + when(order.updated_at);
  const timeline = document.getElementById("timeline");
  timeline.replaceChildren(...order.timeline.map((step) => {
    const item = element("li", { "data-type": step.type });
    item.append(element("strong", {}, STEP_NAMES[step.type] || step.type), " ", element("span", { class: "muted" }, when(step.at)));
    return item;
  }));
  const shipments = document.getElementById("shipments");
  shipments.replaceChildren(...(order.shipments.length ? order.shipments.map((s) => {
    const row = element("p", { "data-shipment": s.shipment_id }, `From ${s.warehouse || "a warehouse"}: ${s.state}`);
    if (s.problem) row.append(` (${s.problem})`);
    if (s.tracking_url) row.append(" · ", element("a", { href: s.tracking_url, rel: "noopener" }, `${s.carrier} ${s.tracking_number}`));
    return row;
  }) : [element("p", { class: "muted" }, "No shipment yet.")]));
}

async function load(orderId, postalCode) {
  const query = "?postal_code=" + encodeURIComponent(postalCode);
  const answer = await fetch("/track/" + encodeURIComponent(orderId) + query);
  if (!answer.ok) {
    document.getElementById("result").hidden = true;
    const message = document.getElementById("message");
    message.className = "error";
    message.textContent = answer.status === 404 ? "No order with this number and postal code." : "Tracking is unavailable; try again shortly.";
    return false;
  }
  render(await answer.json());
  return true;
}

function follow(orderId, postalCode) {
  if (stream) stream.close();
  const live = document.getElementById("live");
  stream = new EventSource("/track/" + encodeURIComponent(orderId) + "/stream?postal_code=" + encodeURIComponent(postalCode));
  stream.onopen = () => live.classList.add("on");
  stream.onerror = () => live.classList.remove("on");
  stream.addEventListener("status", () => load(orderId, postalCode));
}

async function track(orderId, postalCode) {
  if (await load(orderId, postalCode)) follow(orderId, postalCode);
}

document.getElementById("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  const orderId = document.getElementById("order").value.trim();
  const postalCode = document.getElementById("postal").value.trim();
  history.replaceState(null, "", "?order=" + encodeURIComponent(orderId) + "&postal_code=" + encodeURIComponent(postalCode));
  track(orderId, postalCode);
});

const given = new URLSearchParams(location.search);
if (given.get("order") && given.get("postal_code")) {
  document.getElementById("order").value = given.get("order");
  document.getElementById("postal").value = given.get("postal_code");
  track(given.get("order"), given.get("postal_code"));
}
