"""The client's version: what `sdp --version` prints and the User-Agent carries (pyproject.toml reads it too)."""

VERSION = "0.1.0"
