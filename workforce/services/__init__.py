"""Every workforce write, split by job: weeks (assign, remove, publish), time off, auto-fill."""
