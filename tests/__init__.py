"""taskito's test suite; ``tests.helpers`` holds what every group shares."""
