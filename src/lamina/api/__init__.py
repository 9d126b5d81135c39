"""The Docker Engine API over lamina's store (``lamina system service``), so that docker's
own CLI, docker-py, testcontainers and other clients drive lamina unchanged.

``service`` opens the socket; ``server`` is the HTTP server, its router, versions and
errors (``http`` the protocol underneath); one module per group of routes (``system``,
``images``, ``build``, ``containers``, ``attach``, ``exec_``, ``networks``, ``events``) over
``lamina.Engine``, the same engine the CLI uses.
"""
