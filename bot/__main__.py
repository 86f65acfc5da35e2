"""``python -m pacsbot.bot`` is the same as the ``pacsbot`` command."""

import sys

from pacsbot.bot.cli import main

sys.exit(main())
