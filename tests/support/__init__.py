"""Helpers shared by the test suites (real processes, no mocks)."""
