"""An order and whether its receipt went out."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    total = models.PositiveIntegerField()
    receipt_sent = models.BooleanField(default=False)
