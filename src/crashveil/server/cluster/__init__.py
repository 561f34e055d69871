"""One server on several hosts over one database: identity, hosts, leases, cache versions,
the instance lock and the host kit (``server add-host``)."""
