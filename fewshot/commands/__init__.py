"""One module per CLI sub-command, each with ``add_parser(subparsers)``.

To add a command, write a module here and list it in ``COMMANDS``.
"""

from . import data, eval, train

COMMANDS = [train, eval, data]
