"""Migrations of the taskito app: only its admin placeholder model, which has no table."""
