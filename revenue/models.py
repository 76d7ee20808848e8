"""Revenue cycle models: built in their own issue."""
