"""The gate (``bcebench check``): the plan of checks, the worker processes that run them (the
controller and executors here, the worker apart, importing nothing of them), and the verdicts."""
