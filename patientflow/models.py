"""Patient flow models: built in their own issue."""
