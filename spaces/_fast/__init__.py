"""Fused supernets of the fast ZEROS engine (see each module)."""
