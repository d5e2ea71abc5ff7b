"""Batches: finished visors assembled in a fablab, checked, released, quarantined, recalled.

A batch is a core ledger document (``batch``/``LOT-2026-0001``): its visors carry the batch number
as their lot, so the ledger alone says where each of them is.
"""
