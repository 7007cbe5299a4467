"""The channel simulator of `orderflow up`: seeds a catalogue's stock through inventory's API,
then places orders as sales channels do, through the public ways in only: over HTTP as the
`web` channel and on `channel.orders` as the `marketplace` channel. The mix has plain orders,
orders split over two warehouses, out-of-stock orders, declined payments, cancellations (some
sent a while after the order, when its parcels may be leaving: the cancellation then crosses a
shipment), pre-orders of a SKU that is backordered until the stock the simulator receives
later, and, every 50th order, one to an address the carrier refuses, which its customer cancels
once the tracking page shows the refusal."""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orderflow.runtime.kafka import kafka_headers, new_producer
from orderflow.runtime.webclient import get_json, post_json
from orderflow.schemas.codec import encode
from orderflow.schemas.inventory import StockReceived
from orderflow.schemas.orders import OrderSubmitted
from orderflow.schemas.topics import CHANNEL_ORDERS, ERP_STOCK

#: Sold before it is in stock (backorders allowed); received a while after it is ordered.
PRE_ORDER = "SKU-PRE1"
PRE_ORDER_WAREHOUSE = "berlin"  # the first by priority: where inventory backorders
#: SKU -> (price, warehouses that stock it). SKU-SOLD-OUT is never stocked.
CATALOGUE = {
    **{f"SKU-B{n}": (f"{9 + n}.99", ("berlin",)) for n in range(1, 4)},
    **{f"SKU-P{n}": (f"{14 + n}.50", ("paris",)) for n in range(1, 4)},
    **{f"SKU-A{n}": (f"{4 + n}.00", ("berlin", "paris")) for n in range(1, 7)},
    "SKU-SOLD-OUT": ("99.00", ()),
    PRE_ORDER: ("24.00", ()),
}
#: Web orders awaiting intake's answer at once: a shop has many customers, and one request at a
#: time would measure intake's response time rather than what the system can take.
WEB_CUSTOMERS = 8
SEED_UNITS = 10_000  # per receipt: the contract's bound
RESTOCK_EVERY = 1_000  # orders: at most 9 units of a SKU each, so stock never runs out
#: Orders between two receipts of what was pre-ordered meanwhile (and one after the last).
PRE_ORDER_RECEIPT_EVERY = 40
#: How often each kind of order comes, in percent.
MIX = {
    "plain": 53,
    "split": 14,
    "out_of_stock": 8,
    "declined": 8,
    "cancelled": 8,
    "late_cancel": 4,
    "backorder": 5,
}
#: Every this many orders, one (the 25th, the 75th, ...) goes to an address the carrier refuses,
#: outside the mix, so that even a short run sends a few and the mix's draws stay as they were.
REFUSED_EVERY = 50
CANCELLING = frozenset({"cancelled", "late_cancel", "refused"})  # kinds whose customer cancels
#: Seconds after placing that a late cancellation goes out, drawn evenly: around the time the
#: warehouse ships, so that some arrive before, some cross a parcel and some come too late.
LATE_CANCEL_S = (0.05, 1.0)
#: The sandbox carrier serves every postal code but this one.
UNSERVED_POSTAL_CODE = "00000"
#: How the customer of an order the carrier refused learns of it: the tracking page, read every
#: REFUSAL_POLL_S until it shows the refused parcel (or REFUSAL_PATIENCE_S have passed, or the
#: run is stopping); then they cancel the order.
REFUSAL_POLL_S, REFUSAL_PATIENCE_S = 0.5, 120.0
TERMINAL = frozenset({"completed", "rejected", "cancelled"})
EXPECTED = {  # the terminal states each kind may end in
    "plain": {"completed"},
    "split": {"completed"},
    "out_of_stock": {"rejected"},
    "declined": {"cancelled"},
    "cancelled": {"cancelled", "completed"},  # the customer may be too late
    "late_cancel": {"cancelled", "completed"},
    "backorder": {"completed"},
    "refused": {"cancelled"},  # its parcels never leave, so the cancellation always stops them
}


@dataclass(frozen=True)
class Placed:
    channel: str
    external_id: str
    kind: str
    cancel_after: float = 0.0  # seconds, for a late cancellation


@dataclass
class ChannelSimulator:
    bootstrap: str
    intake_url: str
    inventory_url: str
    tracking_url: str  # where the customers of refused parcels look their orders up
    keys: dict[str, str]
    rate: float = 10.0  # orders per second
    seed: int = 1
    run_id: str = field(default_factory=lambda: f"{int(time.time()):x}")
    patience: float = 60.0  # seconds to wait for a service that is restarting
    placed: list[Placed] = field(default_factory=list)
    received: Counter[tuple[str, str]] = field(default_factory=Counter)  # (sku, warehouse)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - a repeatable mix, not secrets
        self._producer = new_producer(self.bootstrap)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._placing = threading.Lock()
        self._failures: list[BaseException] = []
        self._later = _Later(self._failures)
        self._stopping = threading.Event()  # the run's, once it has one
        self._pre_ordered = 0  # units of PRE_ORDER ordered since its last receipt

    def stock_up(self, round_: int = 0) -> None:
        """Receive SEED_UNITS of each stocked SKU in each of its warehouses (once per run and
        round: a receipt's reference makes it count once)."""
        for sku, (_, warehouses) in CATALOGUE.items():
            for warehouse in warehouses:
                reference = f"sim-{self.run_id}-{round_}-{warehouse}"
                body = {"warehouse": warehouse, "quantity": SEED_UNITS, "reference": reference}
                self._post(f"{self.inventory_url}/stock/{sku}/receipts", body)
                self.received[sku, warehouse] += SEED_UNITS
        if round_ == 0:
            policy = {"low_stock_threshold": 0, "allow_backorder": True}
            url = f"{self.inventory_url}/stock/{PRE_ORDER}/policy"
            post_json(url, policy, accept=(200,), patience=self.patience, method="PUT")

    def receive_pre_orders(self, round_: int) -> None:
        """Receive what was pre-ordered since the last receipt, as an ERP does, on `erp.stock`
        (inventory's consumer takes it in line with the orders, where a receipt through the API
        would race the consumer for the SKU): it fills those backorders, or is on hand for
        pre-orders still on their way to inventory."""
        if self._pre_ordered:
            receipt = StockReceived(
                source=f"erp-sim-{self.run_id}",
                source_position=round_ + 1,
                correlation_id=uuid.uuid4(),
                sku=PRE_ORDER,
                warehouse=PRE_ORDER_WAREHOUSE,
                quantity=self._pre_ordered,
                reference=f"sim-{self.run_id}-pre-{round_}",
            )
            encoded = encode(receipt)
            headers = kafka_headers(encoded.headers)
            self._producer.produce(ERP_STOCK, encoded.value, encoded.key, headers=headers)
            self._producer.poll(0)
            self.received[PRE_ORDER, PRE_ORDER_WAREHOUSE] += self._pre_ordered
            self._pre_ordered = 0

    def run(self, stopping: threading.Event, count: int | None = None) -> None:
        """Place orders at the rate until stopped, or until `count` are placed. Web orders go
        out from several customers at once; a failed one stops the run and is raised here."""
        started, number = time.monotonic(), 0
        self._stopping = stopping
        web = _Customers(WEB_CUSTOMERS, self._place_on_the_web, self._failures)
        while not stopping.is_set() and not self._failures and number != count:
            if number % RESTOCK_EVERY == 0:
                self.stock_up(number // RESTOCK_EVERY)
            if number % PRE_ORDER_RECEIPT_EVERY == 0:
                self.receive_pre_orders(number // PRE_ORDER_RECEIPT_EVERY)
            number += 1
            order, body = self._next_order(number)
            if order.channel == "web":
                web.place(order, body, stopping)
            else:
                self._publish(order, body)
                self._record(order)
            stopping.wait(max(0.0, started + number / self.rate - time.monotonic()))
        web.finish()
        self._later.finish()
        self.receive_pre_orders(number // PRE_ORDER_RECEIPT_EVERY + 1)
        self._producer.flush(10)
        if self._failures:
            raise self._failures[0]

    def _record(self, order: Placed) -> None:
        with self._placing:
            self.placed.append(order)

    def start(
        self,
        stopping: threading.Event,
        count: int | None = None,
        first: Callable[[], object] = lambda: None,
    ) -> None:
        """`run` in a thread of its own, after `first` (say, waiting for the services)."""

        def go() -> None:
            first()
            self.run(stopping, count)

        self._thread = threading.Thread(target=go, name="simulator", daemon=True)
        self._thread.start()

    @property
    def placing(self) -> bool:
        """Whether the thread of `start` is still placing orders."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 2.0) -> None:
        """Once the stopped thread has finished, deliver what is queued for the channel topic
        if the broker takes it in time and drop the rest (a producer left with messages makes
        the process wait at exit), then close the producer before the broker goes away."""
        if self._closed:
            return
        if self._thread is not None:
            self._thread.join(timeout)
        self._producer.flush(timeout)
        self._producer.purge()
        self._producer.flush(0)
        if self._thread is None or not self._thread.is_alive():
            self._producer.close()
            self._closed = True

    def _next_order(self, number: int) -> tuple[Placed, dict[str, Any]]:
        kind = self._random.choices(list(MIX), weights=list(MIX.values()))[0]
        if number % REFUSED_EVERY == REFUSED_EVERY // 2:
            kind = "refused"
        # A customer cancels on the web, where intake's answer gave the order's id at once. A
        # marketplace would first have to look the id up (GET /orders/external/{id}) once intake
        # took the order in. Polling for it at saturation loaded intake, the busiest service:
        # 63 orders/s ended instead of 81 (one 20 s run each), a cost of the simulator's.
        channel = "web" if number % 2 or kind in CANCELLING else "marketplace"
        delay = self._random.uniform(*LATE_CANCEL_S) if kind == "late_cancel" else 0.0
        order = Placed(channel, f"sim-{self.run_id}-{number}", kind, delay)
        return order, self._order(order)

    def _place_on_the_web(self, order: Placed, body: dict[str, Any]) -> None:
        answer = self._post(f"{self.intake_url}/orders", body, self._headers(order))
        self._record(order)
        if order.kind == "cancelled":
            self._cancel(order, answer["order_id"])
        elif order.kind == "late_cancel":
            self._later.call(order.cancel_after, lambda: self._cancel(order, answer["order_id"]))
        elif order.kind == "refused":
            self._later.call(REFUSAL_POLL_S, lambda: self._cancel_once_refused(order, answer))

    def _cancel_once_refused(self, order: Placed, answer: dict[str, Any]) -> None:
        """Cancel once the tracking page shows a parcel the carrier refused, as its customer
        would; should it not show in time, or the run be stopping, cancel anyway, so that the
        order still ends."""
        url = f"{self.tracking_url}/orders/{answer['order_id']}/tracking"
        deadline = time.monotonic() + REFUSAL_PATIENCE_S
        while not self._stopping.is_set() and time.monotonic() < deadline:
            tracked = get_json(url, self.auth(order.channel), (200, 404), self.patience)
            if any(s["state"] == "exception" for s in tracked.get("shipments", [])):
                break
            self._stopping.wait(REFUSAL_POLL_S)
        self._cancel(order, answer["order_id"])

    def _cancel(self, order: Placed, order_id: str) -> None:
        """409 once intake has seen a parcel leave: the customer was too late."""
        url = f"{self.intake_url}/orders/{order_id}/cancel"
        cancel = {"detail": "changed my mind"}
        self._post(url, cancel, self._headers(order), accept=(200, 409))

    def statuses(self) -> Counter[str]:
        """The placed orders per status, as order intake reports them."""
        mine = {(p.channel, p.external_id) for p in self.placed}
        found: Counter[str] = Counter()
        for channel in ("web", "marketplace"):
            for order in self.orders_of(channel):
                if (channel, order["external_id"]) in mine:
                    found[order["status"]] += 1
        found["not yet seen"] = len(mine) - sum(found.values())
        return found

    def outcomes(self) -> Counter[tuple[str, str]]:
        """(kind, status) of every placed order."""
        status = {
            (channel, order["external_id"]): order["status"]
            for channel in ("web", "marketplace")
            for order in self.orders_of(channel)
        }
        return Counter(
            (p.kind, status.get((p.channel, p.external_id), "unseen")) for p in self.placed
        )

    def orders_of(self, channel: str) -> list[dict[str, Any]]:
        orders, cursor = [], ""
        while True:
            url = f"{self.intake_url}/orders?limit=100{cursor}"
            page = get_json(url, self.auth(channel), patience=self.patience)
            orders += page["orders"]
            if not page["next_cursor"]:
                return orders
            cursor = f"&cursor={page['next_cursor']}"

    def _order(self, order: Placed) -> dict[str, Any]:
        pick = self._random
        if order.kind == "split":
            skus = [
                pick.choice([f"SKU-B{n}" for n in range(1, 4)]),
                pick.choice([f"SKU-P{n}" for n in range(1, 4)]),
            ]
        else:
            skus = pick.sample([f"SKU-A{n}" for n in range(1, 7)], pick.randint(1, 3))
        if order.kind == "out_of_stock":
            skus.append("SKU-SOLD-OUT")
        elif order.kind == "backorder":
            skus.append(PRE_ORDER)
        quantities = {sku: pick.randint(1, 3) for sku in skus}
        self._pre_ordered += quantities.get(PRE_ORDER, 0)
        lines = [
            {
                "sku": sku,
                "quantity": quantity,
                "unit_price": {"amount": CATALOGUE[sku][0], "currency": "EUR"},
            }
            for sku, quantity in quantities.items()
        ]
        return {
            "external_id": order.external_id,
            "customer": {
                "id": f"c-{pick.randint(1, 500)}",
                "email": "buyer@example.com",
                "name": "A Buyer",
            },
            "shipping_address": {
                "line1": "1 Main St",
                "city": "Berlin",
                "postal_code": UNSERVED_POSTAL_CODE if order.kind == "refused" else "10115",
                "country": "DE",
            },
            "lines": lines,
            "shipping_fee": {"amount": "4.90", "currency": "EUR"},
            "payment": {"token": "tok_decline" if order.kind == "declined" else "tok_ok"},
        }

    def _publish(self, order: Placed, body: dict[str, Any]) -> None:
        submitted = OrderSubmitted.model_validate_json(
            json.dumps({**body, "channel": order.channel, "correlation_id": str(_uuid(order))})
        )
        encoded = encode(submitted)
        self._producer.produce(
            CHANNEL_ORDERS, encoded.value, encoded.key, headers=kafka_headers(encoded.headers)
        )
        self._producer.poll(0)

    def _post(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        accept: tuple[int, ...] = (200, 201, 202),
    ) -> Any:
        """Safe to repeat: orders carry an idempotency key, receipts a reference."""
        return post_json(url, body, headers, accept, patience=self.patience)

    def _headers(self, order: Placed) -> dict[str, str]:
        return {**self.auth(order.channel), "Idempotency-Key": order.external_id}

    def auth(self, channel: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[channel]}"}


class _Customers:
    """Web customers placing orders at once, each in a daemon thread: no order is handed out
    once stopped, and a process that exits does not wait for one still waiting out intake."""

    def __init__(
        self,
        count: int,
        place: Callable[[Placed, dict[str, Any]], None],
        failures: list[BaseException],
    ) -> None:
        self._count, self._place, self._failures = count, place, failures
        self._idle = threading.Semaphore(count)
        self._orders: queue.SimpleQueue[tuple[Placed, dict[str, Any]]] = queue.SimpleQueue()
        for number in range(count):
            name = f"web-customer-{number}"
            threading.Thread(target=self._serve, name=name, daemon=True).start()

    def place(self, order: Placed, body: dict[str, Any], stopping: threading.Event) -> None:
        """Hand the order to an idle customer, waiting for one; not once stopped."""
        while not self._idle.acquire(timeout=0.1):
            if stopping.is_set():
                return
        self._orders.put((order, body))

    def finish(self) -> None:
        """Wait until every customer has the answer to its order (each waits out a restarting
        intake for the simulator's patience), so that every order accepted is counted."""
        for _ in range(self._count):
            self._idle.acquire()

    def _serve(self) -> None:
        while True:
            order, body = self._orders.get()
            try:
                self._place(order, body)
            except Exception as failure:
                self._failures.append(failure)
            finally:
                self._idle.release()


def _uuid(order: Placed) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"simulator/{order.external_id}")


class _Later:
    """Calls made a while after they are asked for, each on a timer thread of its own (a few
    are waiting at any time): a customer who cancels later does not hold up the next order."""

    def __init__(self, failures: list[BaseException]) -> None:
        self._failures = failures
        self._waiting: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def call(self, delay: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(delay, self._run, args=(action,))
        timer.daemon = True  # an exiting process does not wait for it
        with self._lock:
            self._waiting.add(timer)
        timer.start()

    def finish(self) -> None:
        """Wait until every call asked for so far has been made."""
        with self._lock:
            waiting = list(self._waiting)
        for timer in waiting:
            timer.join()

    def _run(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as failure:
            self._failures.append(failure)
        finally:
            with self._lock:
                self._waiting.discard(threading.current_thread())
