"""`python -m connector`: the command line (see `connector.cli`)."""

from connector.cli import main

raise SystemExit(main())
