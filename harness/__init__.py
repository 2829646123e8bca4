"""What the tests, `make bench` and `make faults` share, and nothing in production imports: a broker and a
PostgreSQL server for a run (harness.infra), the services as real processes (harness.processes), an SMTP sink
(harness.smtp), reading and writing topics (harness.kafka), and portal changes and events to feed them
(harness.builders)."""
