"""The command line and the test suite run against every implementation."""
