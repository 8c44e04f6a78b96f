"""lotse's log set-up (:mod:`cliutil.logsetup`), under the name every command imports."""

from cliutil.logsetup import LOG_FORMATS, add_log_format_option, configure_logging

__all__ = ["LOG_FORMATS", "add_log_format_option", "configure_logging"]
