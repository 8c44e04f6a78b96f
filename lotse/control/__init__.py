"""The operators' handle on a running controller.

``lotse run`` listens on a Unix control socket (``server``) for JSON-line
requests (``protocol``) that ``lotse ctl`` sends: status, a live routing
decision, supervisor overrides and a configuration reload (``operations``).
``drift`` notices a dialplan built from another configuration.
"""
