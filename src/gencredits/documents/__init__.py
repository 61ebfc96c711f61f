"""Documents: the JSON and YAML shapes of domain values, and the Pydantic input models.

``catalog`` and ``plans`` read and write the operator's documents (the shipped YAML files,
the stored price versions and plans); ``requests`` is the one codec of request lines (the
API's bodies, the CLI's files, the client's calls, the stored holds and idempotency
payloads); ``bounds`` holds the bounded input types every model shares. Only ``domain`` is
below this layer: the store, the service, the edges and the client all read it.
"""
