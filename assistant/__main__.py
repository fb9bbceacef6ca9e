"""`python -m assistant` runs the CLI."""

from assistant.cli import main

raise SystemExit(main())
