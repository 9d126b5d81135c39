"""lamina's registry server: an OCI Distribution Spec v1.1 registry.

Entry points (each imported from its module, so that importing ``lamina.registry`` stays free
of starlette for the CLI's other verbs):

- ``lamina.registry.app.create_app(config, *, authorizer=None, extra_routes=(), middleware=())``:
  the ASGI app (Starlette);
- ``lamina.registry.authz.Authorizer`` / ``AllowAll``: the hook auth plugs into;
- ``lamina.registry.errors``: the wire errors and the one table mapping errors to OCI codes;
- ``lamina.registry.service.Registry``: the operations, over ``metadata`` and ``storage``;
- ``lamina.registry.metadata.MetadataStore`` (SQLite or PostgreSQL) and
  ``lamina.registry.storage.StorageDriver`` (filesystem or S3): the two interfaces below it,
  chosen by ``lamina.registry.backends`` from the config;
- ``lamina.registry.migrate.migrate``: copy a registry from one pair of backends to another;
- ``lamina.registry.gc.run_gc`` / ``collect_garbage``: online garbage collection.
"""
