"""In-memory stand-ins for a service's repository and its outbox, for handler tests that run in milliseconds.

They keep what the real ones keep, in dicts, with the same functions; the real ones are proven against PostgreSQL
and the broker by the integration tests. A fake that drifts from its real twin shows up there, not here.
"""
