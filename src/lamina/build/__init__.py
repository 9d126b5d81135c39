"""Dockerfiles: the parser (pure) and the builder (RUN through the runtime).

``parse(text)`` reads a Dockerfile as docker does (``lamina.build.dockerfile``);
``Builder`` builds it into images of a store, one per step, with a build cache
(``lamina.build.builder``). ``lamina.engine.build`` wires both to a context and the CLI.
"""

from __future__ import annotations

from lamina.build.dockerfile import Dockerfile, Heredoc, Node, parse

__all__ = ["Dockerfile", "Heredoc", "Node", "parse"]
