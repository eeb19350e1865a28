"""Perception: what the user feels (emotion detector) and why (cause finder), on a shared encoder."""
