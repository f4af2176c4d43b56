"""The command line (`python -m connector`): one module per command over `common`."""
