"""HTTP handlers, one module per resource of the OCI Distribution API."""
