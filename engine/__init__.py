"""Campaign automation engine for direct marketing."""
