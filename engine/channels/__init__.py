"""Channels: one adapter per way out (SendGrid, Twilio, print file, call list, outbox)."""
