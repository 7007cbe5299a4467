"""Read-model workers that build order tracking and analytics views from the event topics."""
