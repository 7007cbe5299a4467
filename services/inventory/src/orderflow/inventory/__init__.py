"""Inventory: stock per SKU and warehouse, reservations, backorders, receipts."""
