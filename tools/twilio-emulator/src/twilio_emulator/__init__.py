"""Standalone emulator of the Twilio REST API subset and webhooks that byosms uses.

Entry points:
- :func:`twilio_emulator.app.create_app` builds the aiohttp application (no I/O at import).
- :func:`twilio_emulator.testing.running_emulator` starts it in-process on a free port for tests.
- :mod:`twilio_emulator.client_redirect` points the real ``twilio`` client at the emulator.
- ``twilio-emulator`` (:mod:`twilio_emulator.cli`) runs it from the command line.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
