"""Speech for the ``speech`` dialplan node: grammar-based vosk recognition (recognizer.py,
loaded only by the engine), the confidence decision (confidence.py, pure) and the breaker.

Nothing is imported here on purpose: the pure dialplan walker imports ``confidence`` and must
not load vosk, asyncio or threads with it."""
