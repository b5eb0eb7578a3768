"""Vault (OpenBao in the lab): bootstrap that survives interruption, unseal, status."""
