import pytest

# The contract suites live in modules that are not test_*.py: have pytest rewrite their asserts.
pytest.register_assert_rewrite(
    "tests.contract.eventstore_contract",
    "tests.contract.readmodels_contract",
    "tests.contract.clock_contract",
)
