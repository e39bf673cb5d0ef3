"""Rate limits: quotas per key, per client address and per kind of request, counted per process
or in Redis, enforced before a request reaches the application."""
