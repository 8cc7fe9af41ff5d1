"""An in-process Kubernetes API emulator for tests, its fixtures, and the e2e switch to a real cluster."""
