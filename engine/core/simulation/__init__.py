"""`campaign simulate`: the response model and the timeline of a time-travel dry run (pure)."""
