"""Clients of outside catalog services, one module each."""
