"""Orders, and the task that sends their receipts."""
