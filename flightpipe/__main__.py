"""``python -m flightpipe``: the same as the ``flightpipe`` command."""

from flightpipe.cli import main

raise SystemExit(main())
