"""orderflow event contracts: the integration events the services exchange, and their topics."""
