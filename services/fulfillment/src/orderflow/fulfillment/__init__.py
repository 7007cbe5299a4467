"""Fulfillment: shipments per warehouse, carriers, delivery."""
