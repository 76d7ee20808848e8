"""Workforce models: built in their own issue."""
