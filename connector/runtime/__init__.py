"""The composition root: the settings, and the only place they become storage, clients and
engines."""
