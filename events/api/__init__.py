"""The events REST API (/api/events/): thin DRF views over events.services and events.selectors."""
