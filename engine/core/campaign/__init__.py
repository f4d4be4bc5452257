"""Campaigns as code: the YAML schema, the segment language and their checks."""
