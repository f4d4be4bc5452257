"""Sending: messages handed to channels, their outcomes, the send state machine."""
