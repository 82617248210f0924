"""Protocol-speaking fakes over real TCP, for fast unit tests (the real-Asterisk tests are the proof)."""
