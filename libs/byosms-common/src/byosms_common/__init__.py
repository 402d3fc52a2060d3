"""Shared building blocks of the byosms services: message models, topics, settings and helpers."""
