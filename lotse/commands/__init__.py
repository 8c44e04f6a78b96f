"""Subcommands of the ``lotse`` CLI that live in the lotse package itself."""

from lotse.commands.check import add_check
from lotse.commands.demo import add_demo
from lotse.commands.route import add_route
from lotse.commands.run import add_run

__all__ = ["add_check", "add_demo", "add_route", "add_run"]
