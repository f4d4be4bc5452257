"""Fake provider servers (SendGrid, Twilio) for tests, benchmarks and dry runs."""
