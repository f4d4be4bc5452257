"""Use cases. They receive their adapters (ports) and `now` as arguments."""
