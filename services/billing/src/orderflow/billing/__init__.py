"""Billing: payment authorisation and capture, invoices, credit notes."""
