"""The append-only stock ledger: items, locations, postings of signed moves, derived balances."""
