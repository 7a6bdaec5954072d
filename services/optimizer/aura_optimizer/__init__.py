"""AURA optimizer service."""
