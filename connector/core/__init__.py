"""Lowest layer: the error tree, the clock and small helpers; imports nothing of the connector."""
