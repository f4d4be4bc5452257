"""Our own e-mail tracking: signed tokens, rewritten links, the open pixel."""
