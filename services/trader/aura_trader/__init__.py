"""AURA trader service."""
