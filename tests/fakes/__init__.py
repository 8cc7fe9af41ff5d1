"""Fakes of outside services for tests: real local servers, not mocks."""

from tests.fakes.receivers import RecordedRequest, Reply, SentryReceiver, SlackReceiver

__all__ = ["RecordedRequest", "Reply", "SentryReceiver", "SlackReceiver"]
