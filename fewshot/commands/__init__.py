"""One module per CLI sub-command, each with ``add_parser(subparsers)``.

To add a command, write a module here and list it in ``COMMANDS``.
"""

from . import benchmark, data, eval, plot, report, train

COMMANDS = [train, eval, data, plot, report, benchmark]
