"""``python -m peoplesemseg_ros.cli``: the same as the ``peoplesemseg`` console script."""

from peoplesemseg_ros.cli.main import main

__all__: list[str] = []

raise SystemExit(main())
