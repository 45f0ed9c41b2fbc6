"""Values that must never appear in a log: every key and marked prompt the tests use."""

KEY_A = "test-key-aaaaaaaaaaaaaaaaaaaaaaaa"
KEY_B = "test-key-bbbbbbbbbbbbbbbbbbbbbbbb"
KEY_HASHED = "test-key-hashed-cccccccccccccccc"
WRONG_KEY = "test-key-wrong-dddddddddddddddd"
SECRET_PROMPT = "PROMPT-MARKER-7f3a do not log me"
UPSTREAM_KEY = "upstream-secret-eeeeeeeeeeeeeeee"  # a credential the gateway sends upstream

NEVER_LOGGED = [KEY_A, KEY_B, KEY_HASHED, WRONG_KEY, SECRET_PROMPT, UPSTREAM_KEY]
