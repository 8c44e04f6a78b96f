"""The sounds 115 callers hear: manifest, audio check, synthesis, and their CLI.

``greetings.manifest`` names every sound the dialplan plays, ``greetings.audio``
checks WAV files the way Asterisk reads them, ``greetings.check`` ties both to
a configuration, and ``greetings.synth`` makes missing files with espeak-ng
and sox.
"""
