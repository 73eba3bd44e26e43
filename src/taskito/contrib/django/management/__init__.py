"""Management commands: ``taskito_worker``, ``taskito_info``, ``taskito_dashboard``."""
