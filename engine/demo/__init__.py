"""Synthetic demo data: customers, bought-list prospects and order history."""
