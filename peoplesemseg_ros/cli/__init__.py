"""The ``peoplesemseg`` command line: :func:`main` and one module per subcommand."""

from peoplesemseg_ros.cli.main import main

__all__ = ["main"]
