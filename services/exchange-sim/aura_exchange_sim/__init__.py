"""AURA exchange-sim service."""
