"""lotse: the call-routing control plane of the 115 hotline."""

# The one place the version is written: pyproject.toml reads it at build time,
# ``lotse --version`` at run time.
__version__ = "0.1.0"
