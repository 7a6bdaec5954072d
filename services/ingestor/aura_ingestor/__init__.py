"""AURA ingestor service."""
