"""A throwaway app for the registry's discovery test: its kpis.py registers one metric."""
