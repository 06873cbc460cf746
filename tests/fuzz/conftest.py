"""The fuzz tier starts real servers as the end-to-end tier does (its ``launch`` fixture)."""

from tests.e2e.conftest import launch, pytest_runtest_makereport, show_log_on_failure

__all__ = ["launch", "pytest_runtest_makereport", "show_log_on_failure"]
