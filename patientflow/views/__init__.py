"""Patient-flow screens, a module a screen: the flow board, the room board, check-in and
walk-in, checkout, and the flow settings."""
