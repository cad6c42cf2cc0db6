"""`python -m connector` is the same as `meetbridge`."""

from connector.cli import main

main()
