"""Notifications service: Thai and English emails to depa, DES and the local governments."""
