"""Workforce screens, one module per screen."""
