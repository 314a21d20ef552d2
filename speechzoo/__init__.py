"""speechzoo: a model zoo for speech recognition, speech synthesis and music transcription."""
