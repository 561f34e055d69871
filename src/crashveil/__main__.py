"""``python -m crashveil`` is the ``crashveil`` command."""

from crashveil.cli import main

raise SystemExit(main())
