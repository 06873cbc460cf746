"""What the Kafka bus does to aiokafka's log: a retried coordinator request is no ERROR."""

from __future__ import annotations

import logging

import pytest
from aiokafka import errors

from mcburger.adapters.bus.kafka import KafkaBus

COORDINATOR = logging.getLogger("aiokafka.consumer.group_coordinator")


def _logged(caplog: pytest.LogCaptureFixture, error: Exception) -> str:
    caplog.clear()
    # As aiokafka logs it (aiokafka/consumer/group_coordinator.py)
    COORDINATOR.error("Group Coordinator Request failed: %s", error)
    [record] = [r for r in caplog.records if r.name == COORDINATOR.name]
    return record.levelname


def test_a_retried_coordinator_error_is_a_warning_and_a_final_one_stays_an_error(
        caplog: pytest.LogCaptureFixture) -> None:
    KafkaBus("127.0.0.1:9")  # no connection is made until it is used
    with caplog.at_level(logging.INFO, logger=COORDINATOR.name):
        assert _logged(caplog, errors.GroupCoordinatorNotAvailableError()) == "WARNING"
        assert _logged(caplog, errors.GroupAuthorizationFailedError()) == "ERROR"
