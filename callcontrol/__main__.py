"""Entry point for `python -m callcontrol`."""

from callcontrol.cli import main

raise SystemExit(main())
