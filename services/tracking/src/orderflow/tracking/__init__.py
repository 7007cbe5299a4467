"""Tracking: the read-model API and the customer and ops web pages."""
