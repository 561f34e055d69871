import sys

from notes_app.cli import main

sys.exit(main())
