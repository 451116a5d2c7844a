"""Read models folded from the event log, one module each, plus their runner."""
