"""Follow-up rules: which step follows which, when, and for whom (pure)."""
