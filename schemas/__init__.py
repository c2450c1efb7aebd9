"""Contracts shared by every part: event models (Kafka wire format), topic names, enums.

Imports nothing of ours.
"""
