"""orderflow runtime: what every service process stands on (settings, broker, stores, messaging)."""
