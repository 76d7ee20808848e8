"""Supplies models: built in their own issue."""
