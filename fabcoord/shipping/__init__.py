"""Shipments of released batches to hospital orders, and the hospitals' receipts."""
