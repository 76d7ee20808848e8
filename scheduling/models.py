"""Scheduling models: built in their own issue."""
