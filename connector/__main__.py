"""`python -m connector`: the command line (see `connector.cli.main`)."""

from connector.cli.main import main

raise SystemExit(main())
