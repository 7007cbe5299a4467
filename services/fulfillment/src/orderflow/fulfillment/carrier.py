"""The carrier port: book a parcel (carrier, tracking number, tracking link), keyed by our
shipment id so a repeated booking is the same booking. Delivery news comes back by webhook.

`SandboxCarrier` stands in for a real carrier (an external system we do not own): it books
every parcel except to postal code 00000, which it refuses (the shipment's exception path)."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol
from uuid import UUID


class CarrierRefused(Exception):
    """The carrier will not take the parcel; the shipment goes to `exception`."""


class Carrier(Protocol):
    def book(self, shipment_id: UUID, address: dict[str, Any]) -> dict[str, str]: ...


class SandboxCarrier:
    name = "Sandbox Parcel"

    def book(self, shipment_id: UUID, address: dict[str, Any]) -> dict[str, str]:
        if address.get("postal_code") == "00000":
            raise CarrierRefused(f"no service to postal code {address['postal_code']}")
        number = "SB" + hashlib.sha256(shipment_id.bytes).hexdigest()[:16].upper()
        return {
            "carrier": self.name,
            "tracking_number": number,
            "tracking_url": f"https://track.sandbox-parcel.example/{number}",
        }
