"""Reference data the service ships: taxonomy, 两高 industries, regions, industries."""
